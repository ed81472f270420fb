package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/clawd-dev/clawd/quota"
)

// api.requestsPerHour at the router: the 6th request of the hour past a
// quota of 5 is refused over HTTP (429, Retry-After, a problem naming the
// quota) and over a WebSocket (an error response to that request, the
// socket kept open); other namespaces are not touched; quota-status shows
// the hour's count; the count survives a restart.
func TestRequestsPerHour(t *testing.T) {
	// The window is the UTC hour: a test that straddles its end would see
	// the count start again.
	if left := time.Until(quota.NextHour(time.Now())); left < time.Minute {
		t.Logf("waiting %s for the next UTC hour", left.Round(time.Second))
		time.Sleep(left + time.Second)
	}
	d := startDaemon(t)
	for _, ns := range []string{"limited", "sockets", "free"} {
		d.mustClawd("namespace", "create", ns, "--hostname="+ns+".localhost")
	}
	for _, ns := range []string{"limited", "sockets"} {
		d.mustClawd("namespace", "apply-quota", ns, "--from="+writeQuota(t, "namespace: "+ns+"\nquotas:\n  api:\n    requestsPerHour: 5\n"))
		// The router reads the quota from the store's watch; requests
		// sent before it arrives count all the same.
		if l := d.quotas(ns)["api.requestsPerHour"]; !l.Enforced || l.Used == nil || *l.Used != 0 || *l.Remaining != 5 {
			t.Fatalf("%s: quota-status api.requestsPerHour = %+v, want enforced, 0 used of 5", ns, l)
		}
	}

	t.Run("HTTP", func(t *testing.T) {
		for i := range 5 {
			if code, body := d.viaRouter("limited.localhost", "/healthz"); code != 200 {
				t.Fatalf("request %d: %d %s", i+1, code, body)
			}
		}
		req, _ := http.NewRequest("GET", "http://"+d.routerAddr+"/healthz", nil)
		req.Host = "limited.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p struct {
			Status    int       `json:"status"`
			Namespace string    `json:"namespace"`
			Quota     string    `json:"quota"`
			Limit     int64     `json:"limit"`
			Resets    time.Time `json:"resets"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&p)
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != 429 || ra < 1 || ra > 3600 || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("6th request: %d, Retry-After %q, Content-Type %q; want 429, 1..3600 s, a problem",
				resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
		}
		if p.Status != 429 || p.Namespace != "limited" || p.Quota != "api.requestsPerHour" || p.Limit != 5 || p.Resets.Minute() != 0 || p.Resets.Before(time.Now()) {
			t.Errorf("problem %+v", p)
		}
		for i := range 10 {
			if code, body := d.viaRouter("free.localhost", "/healthz"); code != 200 {
				t.Fatalf("namespace free, request %d: %d %s", i+1, code, body)
			}
		}
		l := d.quotas("limited")["api.requestsPerHour"]
		if l.Used == nil || *l.Used != 5 || *l.Remaining != 0 {
			t.Errorf("quota-status api.requestsPerHour = %+v, want 5 used, 0 remaining", l)
		}
		out := d.mustClawd("namespace", "quota-status", "limited")
		if !strings.Contains(out, "api.requestsPerHour") || strings.Contains(out, "not enforced") {
			t.Errorf("quota-status table:\n%s", out)
		}
	})

	t.Run("WebSocket", func(t *testing.T) {
		dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		conn, resp, err := dialer.Dial("ws://"+d.routerAddr+"/", http.Header{"Host": {"sockets.localhost"}})
		if err != nil {
			t.Fatalf("websocket through the router: %v (%+v)", err, resp)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		type res struct {
			Type  string          `json:"type"`
			Event string          `json:"event"`
			ID    json.RawMessage `json:"id"`
			OK    bool            `json:"ok"`
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Details struct {
					Quota string `json:"quota"`
				} `json:"details"`
			} `json:"error"`
		}
		read := func() res {
			t.Helper()
			var r res
			if err := conn.ReadJSON(&r); err != nil {
				t.Fatalf("reading a frame: %v", err)
			}
			return r
		}
		if r := read(); r.Event != "connect.challenge" {
			t.Fatalf("first frame %+v", r)
		}
		// connect is request 1, four pings 2 to 5.
		send := func(id, method string) {
			t.Helper()
			frame := map[string]any{"type": "req", "id": id, "method": method,
				"params": map[string]any{"auth": map[string]any{"token": "clawd-it"}}}
			if err := conn.WriteJSON(frame); err != nil {
				t.Fatal(err)
			}
		}
		send("c", "connect")
		if r := read(); !r.OK || string(r.ID) != `"c"` {
			t.Fatalf("connect: %+v", r)
		}
		for i := 2; i <= 5; i++ {
			send(fmt.Sprint(i), "ping")
			if r := read(); !r.OK || string(r.ID) != fmt.Sprintf(`"%d"`, i) {
				t.Fatalf("request %d: %+v", i, r)
			}
		}
		send("6", "ping")
		r := read()
		if r.Type != "res" || r.OK || string(r.ID) != `"6"` || r.Error == nil || r.Error.Details.Quota != "api.requestsPerHour" {
			t.Fatalf("6th request: %+v, want an error response for id 6 naming api.requestsPerHour", r)
		}
		// The socket is still open: the stand-in answers a frame that is
		// not a request (not counted) with its own error, echoing it.
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"event","event":"still-here"}`)); err != nil {
			t.Fatal(err)
		}
		if r := read(); r.Error == nil || r.Error.Code != "INVALID_REQUEST" {
			t.Errorf("frame after the refusal answered %+v, want the stand-in's INVALID_REQUEST", r)
		}
		if l := d.quotas("sockets")["api.requestsPerHour"]; l.Used == nil || *l.Used != 5 {
			t.Errorf("quota-status api.requestsPerHour = %+v, want 5 used", l)
		}
	})

	t.Run("the count survives a restart", func(t *testing.T) {
		d.stop()
		d.start()
		code, body := d.viaRouter("limited.localhost", "/healthz")
		if code != 429 {
			t.Errorf("after a restart: %d %s, want 429", code, body)
		}
	})
}
