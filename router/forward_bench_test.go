package router

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/store"
)

// The router's own cost per forwarded request, against an in-process
// fasthttp gateway over loopback: go test -bench Forward -benchmem ./router
// (the gateway and the client are in the figures too; compare runs, not
// absolute numbers). make bench-router measures the real thing. "quota"
// counts every request against an api.requestsPerHour it never reaches.
func BenchmarkForward(b *testing.B) {
	b.Run("no quota", func(b *testing.B) { benchForward(b, 0) })
	b.Run("quota", func(b *testing.B) { benchForward(b, 1<<50) })
}

func benchForward(b *testing.B, limit int64) {
	gln := serveBody(b, `{"ok":true}`)

	w := &hostWatcher{ns: make(chan store.Event, 1)}
	ns := nsAt("gw", namespace.PhaseRunning, gln.Addr().String(), "gw.example")
	r := New(nil)
	if limit > 0 {
		ns.Spec.Quota = &quota.Limits{RequestsPerHour: limit}
		r.CountRequests(quota.NewRequests("n1", nil, nil, nil))
	}
	w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{ns}}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go r.Run(ctx, w)
	<-r.Ready()
	benchHealthz(b, serveRouter(b, r, Limits{}))
}

// The request path's own cost of the quota: one admission, with no
// quota wired, with one for a namespace without a limit, and with a limit
// (the clock is read once per request anyway, for the observers).
func BenchmarkAdmit(b *testing.B) {
	for _, tc := range []struct {
		name  string
		q     Requests
		limit int64
	}{
		{"not counted", nil, 0},
		{"no limit", quota.NewRequests("n1", nil, nil, nil), 0},
		{"limit", quota.NewRequests("n1", nil, nil, nil), 1 << 50},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := New(nil)
			if tc.q != nil {
				r.CountRequests(tc.q)
			}
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				if r.counting() && r.admit("gw", tc.limit, now) != nil {
					b.Fatal("refused")
				}
			}
		})
	}
}

// A WebSocket round trip through the router (a 100-byte "req" frame out,
// the gateway's echo back): spliced as bytes when requests are not
// counted, relayed frame by frame when they are.
// go test -bench WebSocket -benchmem ./router
func BenchmarkWebSocket(b *testing.B) {
	b.Run("spliced", func(b *testing.B) { benchWebSocket(b, false) })
	b.Run("framed", func(b *testing.B) { benchWebSocket(b, true) })
}

func benchWebSocket(b *testing.B, counted bool) {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil || c.WriteMessage(mt, msg) != nil {
				return
			}
		}
	}))
	b.Cleanup(srv.Close)
	w := &hostWatcher{ns: make(chan store.Event, 1)}
	ns := nsAt("gw", namespace.PhaseRunning, strings.TrimPrefix(srv.URL, "http://"), "gw.example")
	r := New(nil)
	if counted {
		ns.Spec.Quota = &quota.Limits{RequestsPerHour: 1 << 50}
		r.CountRequests(quota.NewRequests("n1", nil, nil, nil))
	}
	w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{ns}}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go r.Run(ctx, w)
	<-r.Ready()
	url := serveRouter(b, r, Limits{})
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(url, "http")+"/", http.Header{"Host": {"gw.example"}})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	frame := []byte(`{"type":"req","id":"0123456789","method":"chat.send","params":{"text":"` + strings.Repeat("x", 30) + `"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
			b.Fatal(err)
		}
		if _, _, err := conn.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}
