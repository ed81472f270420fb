package router

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/store"
)

// counter is an Activity that counts open exchanges per namespace.
type counter struct {
	mu    sync.Mutex
	open  map[string]int
	begun int // Begin calls, of every namespace
}

func (c *counter) Begin(ns string) { c.mu.Lock(); c.open[ns]++; c.begun++; c.mu.Unlock() }
func (c *counter) End(ns string)   { c.mu.Lock(); c.open[ns]--; c.mu.Unlock() }
func (c *counter) get(ns string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open[ns]
}

// forwardFixture is a router in front of one gateway, namespace "gw" at
// gw.example, with an activity counter.
type forwardFixture struct {
	url  string
	addr string // the router's host:port
	act  *counter
}

func newForwardFixture(t *testing.T, gw http.Handler, l Limits, opts ...func(*Router)) *forwardFixture {
	t.Helper()
	return newQuotaFixture(t, gw, l, 0, opts...)
}

// newQuotaFixture is newForwardFixture with namespace gw's
// api.requestsPerHour set to limit (0: none).
func newQuotaFixture(t *testing.T, gw http.Handler, l Limits, limit int64, opts ...func(*Router)) *forwardFixture {
	t.Helper()
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	w := &hostWatcher{ns: make(chan store.Event, 1)}
	ns := nsAt("gw", namespace.PhaseRunning, strings.TrimPrefix(srv.URL, "http://"), "gw.example")
	if limit > 0 {
		ns.Spec.Quota = &quota.Limits{RequestsPerHour: limit}
	}
	w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{ns}}
	r := New(nil)
	act := &counter{open: map[string]int{}}
	r.Lifecycle(nil, act, time.Second)
	for _, o := range opts {
		o(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx, w)
	<-r.Ready()
	url := serveRouter(t, r, l)
	return &forwardFixture{url: url, addr: strings.TrimPrefix(url, "http://"), act: act}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A WebSocket goes through in both directions, and counts as activity for
// as long as it is open.
func TestWebSocketThroughRouter(t *testing.T) {
	up := websocket.Upgrader{}
	f := newForwardFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "" || r.Header.Get("X-Forwarded-Host") != "gw.example" {
			http.Error(w, "bad forwarded headers", http.StatusBadRequest)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		// Like the gateway's connect.challenge: the server speaks first,
		// right behind its 101.
		if c.WriteMessage(websocket.TextMessage, []byte("challenge")) != nil {
			return
		}
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(mt, append([]byte("echo "), msg...)) != nil {
				return
			}
		}
	}), Limits{})

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws://"+f.addr+"/socket?x=1", http.Header{"Host": {"gw.example"}})
	if err != nil {
		t.Fatalf("dial through the router: %v (%v)", err, resp)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "challenge" {
		t.Fatalf("first frame %q, %v; want challenge", msg, err)
	}
	for i := range 3 {
		want := fmt.Sprintf("echo %d", i)
		if err := conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != want {
			t.Fatalf("frame %q, %v; want %q", msg, err, want)
		}
	}
	if n := f.act.get("gw"); n != 1 {
		t.Errorf("open WebSocket counts %d active, want 1", n)
	}
	conn.Close()
	waitFor(t, "the closed WebSocket stops counting as active", func() bool { return f.act.get("gw") == 0 })
}

// A gateway that refuses an upgrade is answered like any reply.
func TestRefusedUpgrade(t *testing.T) {
	f := newForwardFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no sockets here", http.StatusForbidden)
	}), Limits{})
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial("ws://"+f.addr+"/", http.Header{"Host": {"gw.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refused upgrade: %v, %+v; want the gateway's 403", err, resp)
	}
	waitFor(t, "the refused upgrade ends", func() bool { return f.act.get("gw") == 0 })
}

// Server-sent events reach the client as the gateway writes them: the
// first event arrives while the gateway still holds the stream open.
func TestSSEStreamsBeforeTheEnd(t *testing.T) {
	firstSeen := make(chan struct{})
	f := newForwardFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		// Hold the stream until the client has the first event. A router
		// that buffered would never deliver it; the test then fails below.
		select {
		case <-firstSeen:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "data: two\n\n")
	}), Limits{})

	req, _ := http.NewRequest("GET", f.url+"/events", nil)
	req.Host = "gw.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if n := f.act.get("gw"); n != 1 {
		t.Errorf("open stream counts %d active, want 1", n)
	}
	close(firstSeen)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	waitFor(t, "the finished stream stops counting as active", func() bool { return f.act.get("gw") == 0 })
}

// Bodies bigger than the router buffers, and request bodies, go through
// whole.
func TestBodiesGoThroughWhole(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	f := newForwardFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method == "POST" {
			_, _ = fmt.Fprintf(w, "%d", len(b))
			return
		}
		_, _ = io.WriteString(w, big)
	}), Limits{})
	for _, tc := range []struct {
		name, method, body, want string
	}{
		{"big reply", "GET", "", big},
		{"big request", "POST", big, fmt.Sprint(len(big))},
		{"small request", "POST", "hello", "5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, f.url+"/", strings.NewReader(tc.body))
			req.Host = "gw.example"
			rec := record(t, req)
			if rec.Code != 200 || rec.Body.String() != tc.want {
				t.Fatalf("status %d, %d bytes; want 200, %d bytes", rec.Code, rec.Body.Len(), len(tc.want))
			}
		})
	}
}

// A request head bigger than the limit gets 431, as problem JSON.
func TestOversizeHeaders(t *testing.T) {
	f := newForwardFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), Limits{MaxHeaderBytes: 8 << 10})
	tests := []struct {
		name string
		size int
		want int
	}{
		{"under the limit", 4 << 10, 200},
		{"over the limit", 16 << 10, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.url+"/", nil)
			req.Host = "gw.example"
			req.Header.Set("X-Big", strings.Repeat("x", tc.size))
			rec := record(t, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
			if tc.want != 200 && rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
}

// A client that sends its request head slowly is cut off once the
// read-header timeout passes, long before it would have finished.
func TestSlowlorisIsCutOff(t *testing.T) {
	f := newForwardFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), Limits{ReadHeaderTimeout: time.Second})
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, conn) // a 408, then EOF
	}()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: gw.example\r\n"); err != nil {
		t.Fatal(err)
	}
	// 100 header lines, one every 200 ms: 20 s to finish the head.
	for i := range 100 {
		select {
		case <-closed:
			return // cut off
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := fmt.Fprintf(conn, "X-Slow-%d: 1\r\n", i); err != nil {
			return // cut off
		}
	}
	t.Fatal("the router read a slow head to its end instead of cutting the client off")
}

// Hop-by-hop fields describe one connection and are not forwarded, either
// way; end-to-end fields are.
func TestHopByHopHeadersRemoved(t *testing.T) {
	f := newForwardFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range []string{"Keep-Alive", "Proxy-Authorization", "Te", "X-Conn-Named", "Upgrade"} {
			if v := r.Header.Get(h); v != "" {
				http.Error(w, h+" reached the gateway", http.StatusBadRequest)
				return
			}
		}
		if r.Header.Get("X-End-To-End") != "yes" {
			http.Error(w, "X-End-To-End lost", http.StatusBadRequest)
			return
		}
		w.Header().Set("Connection", "X-Reply-Hop")
		w.Header().Set("X-Reply-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Reply", "kept")
	}), Limits{})
	req, _ := http.NewRequest("GET", f.url+"/", nil)
	req.Host = "gw.example"
	req.Header.Set("Connection", "X-Conn-Named")
	req.Header.Set("X-Conn-Named", "1")
	req.Header.Set("Keep-Alive", "timeout=1")
	req.Header.Set("Proxy-Authorization", "Basic eDp5")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Upgrade", "h2c")
	req.Header.Set("X-End-To-End", "yes")
	rec := record(t, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	for _, h := range []string{"X-Reply-Hop", "Keep-Alive"} {
		if v := rec.Header().Get(h); v != "" {
			t.Errorf("reply field %s: %q reached the client", h, v)
		}
	}
	if rec.Header().Get("X-Reply") != "kept" {
		t.Errorf("end-to-end reply field lost: %v", rec.Header())
	}
}

// An unreachable gateway is a 502 problem that names the namespace.
func TestGatewayDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()

	w := &hostWatcher{ns: make(chan store.Event, 1)}
	w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{nsAt("down", namespace.PhaseRunning, dead, "down.example")}}
	r := New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx, w)
	<-r.Ready()
	url := serveRouter(t, r, Limits{})
	req, _ := http.NewRequest("GET", url+"/", nil)
	req.Host = "down.example"
	rec := record(t, req)
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), `"namespace":"down"`) || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d, %s", rec.Code, rec.Body)
	}
}

// The router serves TLS listeners the same way: requests and WebSockets go
// through, and the gateway learns the client used HTTPS.
func TestThroughTLS(t *testing.T) {
	up := websocket.Upgrader{}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.WriteMessage(websocket.TextMessage, []byte(r.Header.Get("X-Forwarded-Proto")))
			return
		}
		_, _ = io.WriteString(w, r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(gw.Close)
	w := &hostWatcher{ns: make(chan store.Event, 1)}
	w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{
		nsAt("gw", namespace.PhaseRunning, strings.TrimPrefix(gw.URL, "http://"), "gw.example"),
	}}
	r := New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx, w)
	<-r.Ready()

	// httptest's certificate, and a client that trusts it.
	certs := httptest.NewUnstartedServer(nil)
	certs.StartTLS()
	t.Cleanup(certs.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := r.Server(Limits{})
	go func() { _ = srv.Serve(tls.NewListener(ln, certs.TLS)) }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	req, _ := http.NewRequest("GET", "https://"+ln.Addr().String()+"/", nil)
	req.Host = "gw.example"
	resp, err := certs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "https" {
		t.Fatalf("over TLS: %d %q, want 200 https", resp.StatusCode, body)
	}

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: certs.Client().Transport.(*http.Transport).TLSClientConfig}
	conn, _, err := d.Dial("wss://"+ln.Addr().String()+"/", http.Header{"Host": {"gw.example"}})
	if err != nil {
		t.Fatalf("wss through the router: %v", err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "https" {
		t.Fatalf("frame %q, %v; want https", msg, err)
	}
}

// A client that hangs up while its request is held stops waiting for the
// wake: the wait is abandoned and the request is observed as 499.
func TestHeldClientLeaves(t *testing.T) {
	r, rec, url := observedRouter(t, obsNS("sleepy", namespace.PhaseStopped, "", "sleepy.test"))
	wk := &gatedWaker{open: make(chan struct{})} // never opens
	wk.calls.Add(1)
	r.Lifecycle(wk, nil, time.Minute)

	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: sleepy.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	wk.calls.Wait() // held
	conn.Close()
	waitFor(t, "the abandoned request is observed", func() bool {
		reqs, _ := rec.snapshot()
		return len(reqs) == 1
	})
	reqs, wakes := rec.snapshot()
	if reqs[0].Status != 499 || len(wakes) != 1 || wakes[0] != "sleepy:abandoned" {
		t.Fatalf("observed %+v and wakes %v, want 499 and sleepy:abandoned", reqs[0], wakes)
	}
}

func TestRetryIfErr(t *testing.T) {
	for _, tc := range []struct {
		head  string
		retry bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", false},
		{"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", false},
		{"POST / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	} {
		var req fasthttp.Request
		if err := req.Header.Read(bufio.NewReader(strings.NewReader(tc.head))); err != nil {
			t.Fatal(err)
		}
		if _, retry := retryIfErr(&req, 1, io.EOF); retry != tc.retry {
			t.Errorf("%q: retry %v, want %v", tc.head, retry, tc.retry)
		}
	}
}

// A client still writing a huge head when the router refuses it gets the
// 431 all the same: the router reads on (bounded) until the client is done
// instead of closing on unread data, which resets the connection; Go's
// client then reports its failed write instead of the answer.
func TestOversizeHeadGets431WhileStillWriting(t *testing.T) {
	f := newForwardFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), Limits{MaxHeaderBytes: 8 << 10})
	for i := range 20 {
		req, _ := http.NewRequest("GET", f.url+"/", nil)
		req.Host = "gw.example"
		// More than the sockets' buffers hold: the client is still
		// writing when the answer comes.
		req.Header.Set("X-Big", strings.Repeat("x", 4<<20))
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("attempt %d: %v, want a 431", i+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(string(body), "too large") {
			t.Fatalf("attempt %d: %d %s, want 431", i+1, resp.StatusCode, body)
		}
	}
}
