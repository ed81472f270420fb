package router

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/clawd-dev/clawd/quota"
)

// tally is a RequestCounter.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *tally) Counted(ns string, n int) { c.mu.Lock(); c.n[ns] += n; c.mu.Unlock() }
func (c *tally) get(ns string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[ns]
}

// withCount makes the router count requests, with a tally of those it
// admits.
func withCount(c *tally) func(*Router) {
	return func(r *Router) { r.CountRequests(quota.NewRequests("n1", nil, nil, nil), c) }
}

// The 6th HTTP request of an hour with requestsPerHour: 5 gets 429, a
// Retry-After up to the hour's end and a problem naming the quota; the
// gateway never sees it.
func TestRequestsPerHourHTTP(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	c := &tally{n: map[string]int{}}
	f := newQuotaFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen++
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}), Limits{}, 5, withCount(c))
	get := func() *http.Response {
		req, _ := http.NewRequest("GET", f.url+"/v1/models", nil)
		req.Host = "gw.example"
		rec := record(t, req)
		return rec.Result()
	}
	for i := range 5 {
		if resp := get(); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d, want 200", i+1, resp.StatusCode)
		}
	}
	resp := get()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("6th request: %d, want 429", resp.StatusCode)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 3600 {
		t.Errorf("Retry-After %q, want 1..3600 seconds", resp.Header.Get("Retry-After"))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	var p struct {
		Status    int       `json:"status"`
		Title     string    `json:"title"`
		Namespace string    `json:"namespace"`
		Quota     string    `json:"quota"`
		Limit     int64     `json:"limit"`
		Resets    time.Time `json:"resets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Status != 429 || p.Namespace != "gw" || p.Quota != "api.requestsPerHour" || p.Limit != 5 ||
		!p.Resets.Equal(quota.NextHour(time.Now())) && !p.Resets.Equal(quota.NextHour(time.Now().Add(-time.Minute))) {
		t.Errorf("problem %+v", p)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen != 5 {
		t.Errorf("gateway saw %d requests, want 5", seen)
	}
	if n := c.get("gw"); n != 5 {
		t.Errorf("counter told of %d requests, want 5", n)
	}
	// The refused request did not count as activity (it would keep a
	// gateway awake).
	f.act.mu.Lock()
	defer f.act.mu.Unlock()
	if f.act.begun != 5 {
		t.Errorf("%d requests counted as activity, want the 5 admitted", f.act.begun)
	}
}

// rpcGateway is a gateway speaking OpenClaw's frames: it answers each
// "req" with an ok "res" of the same id, echoes anything else, and keeps
// the ids it saw.
type rpcGateway struct {
	mu  sync.Mutex
	ids []string
}

func (g *rpcGateway) seen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.ids...)
}

func (g *rpcGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Sec-Websocket-Extensions") != "" {
		http.Error(w, "the router must not offer compression", http.StatusBadRequest)
		return
	}
	up := websocket.Upgrader{}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		var f struct {
			Type string          `json:"type"`
			ID   json.RawMessage `json:"id"`
		}
		if json.Unmarshal(msg, &f) != nil || f.Type != "req" {
			if c.WriteMessage(websocket.TextMessage, append([]byte("echo "), msg...)) != nil {
				return
			}
			continue
		}
		g.mu.Lock()
		g.ids = append(g.ids, string(f.ID))
		g.mu.Unlock()
		if c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"res","id":%s,"ok":true,"payload":{}}`, f.ID)) != nil {
			return
		}
	}
}

type resFrame struct {
	Type  string          `json:"type"`
	ID    json.RawMessage `json:"id"`
	OK    bool            `json:"ok"`
	Error *struct {
		Code         string `json:"code"`
		Message      string `json:"message"`
		Retryable    bool   `json:"retryable"`
		RetryAfterMs int64  `json:"retryAfterMs"`
		Details      struct {
			Quota string `json:"quota"`
			Limit int64  `json:"limit"`
		} `json:"details"`
	} `json:"error"`
}

// On a WebSocket each "req" frame is a request: the 6th of the hour gets
// an error response for its id from the router, the gateway never sees
// it, and the socket goes on working. Frames that are not requests pass
// uncounted.
func TestRequestsPerHourWebSocket(t *testing.T) {
	g := &rpcGateway{}
	c := &tally{n: map[string]int{}}
	f := newQuotaFixture(t, g, Limits{}, 5, withCount(c))
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, EnableCompression: true}
	conn, resp, err := d.Dial("ws://"+f.addr+"/", http.Header{"Host": {"gw.example"}})
	if err != nil {
		t.Fatalf("dial through the router: %v (%v)", err, resp)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	call := func(frame string) resFrame {
		t.Helper()
		if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var res resFrame
		if err := json.Unmarshal(msg, &res); err != nil {
			t.Fatalf("answer %q: %v", msg, err)
		}
		return res
	}
	echo := func(frame string) {
		t.Helper()
		if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "echo "+frame {
			t.Fatalf("echo of %q: %q, %v", frame, msg, err)
		}
	}
	echo(`{"type":"event","event":"tick"}`)
	// "id" after a big "params", and a number id: still requests.
	big := strings.Repeat("x", 100<<10)
	ids := []string{`"r1"`, `"r2"`, `3`, `"r4"`, `"r5"`}
	for i, id := range ids {
		frame := fmt.Sprintf(`{"type":"req","id":%s,"method":"chat.send"}`, id)
		if i == 3 {
			frame = fmt.Sprintf(`{"type":"req","params":{"text":"%s"},"id":%s}`, big, id)
		}
		if res := call(frame); !res.OK || string(res.ID) != id {
			t.Fatalf("request %d: %+v, want ok for id %s", i+1, res, id)
		}
	}
	res := call(`{"type":"req","id":"r6","method":"chat.send","params":{"text":"hi"}}`)
	if res.OK || string(res.ID) != `"r6"` || res.Error == nil || res.Error.Code != "UNAVAILABLE" || !res.Error.Retryable ||
		res.Error.RetryAfterMs < 1000 || res.Error.Details.Quota != "api.requestsPerHour" || res.Error.Details.Limit != 5 ||
		!strings.Contains(res.Error.Message, "api.requestsPerHour=5") {
		t.Errorf("6th request answered %+v, want an UNAVAILABLE error for r6 naming the quota", res)
	}
	// A request whose type comes after its id and params, and one sent
	// in three fragments, are refused as well.
	res = call(`{"id":"r7","params":{"type":"x"},"type":"req"}`)
	if res.OK || string(res.ID) != `"r7"` {
		t.Errorf("7th request answered %+v", res)
	}
	// Fragments, masked with a key that is not zero, a ping between them.
	raw := conn.UnderlyingConn()
	for _, fr := range [][]byte{
		clientFrame(false, opText, `{"type":"req",`),
		clientFrame(true, 0x9, "ping"),
		clientFrame(false, opContinuation, `"id":"r8",`),
		clientFrame(true, opContinuation, `"method":"x"}`),
	} {
		if _, err := raw.Write(fr); err != nil {
			t.Fatal(err)
		}
	}
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"id":"r8","ok":false`) {
		t.Errorf("fragmented 8th request answered %q, %v", msg, err)
	}
	// The socket still works: pings and frames that are not requests.
	if err := conn.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	echo(`{"type":"event","event":"still here"}`)
	if got := g.seen(); strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Errorf("gateway saw requests %v, want %v", got, ids)
	}
	if n := c.get("gw"); n != 5 {
		t.Errorf("counter told of %d requests, want 5", n)
	}
}

// clientFrame is a client's frame, masked.
func clientFrame(fin bool, op byte, payload string) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	b := []byte{b0, 0x80 | byte(len(payload))}
	b = append(b, mask[:]...)
	for i := range len(payload) {
		b = append(b, payload[i]^mask[i&3])
	}
	return b
}

// refuseAfter admits n requests, then refuses and says so on refused.
type refuseAfter struct {
	mu      sync.Mutex
	n       int
	refused chan struct{}
}

func (r *refuseAfter) Admit(ns string, limit int64, now time.Time) *quota.Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n > 0 {
		r.n--
		return nil
	}
	r.refused <- struct{}{}
	return &quota.Refusal{Quota: quota.RequestsPerHour, Limit: 1, Reset: quota.NextHour(now)}
}

// A refusal never lands inside a message the gateway is still sending in
// fragments: it waits for the message's last fragment.
func TestRefusalWaitsForTheGatewaysMessage(t *testing.T) {
	q := &refuseAfter{n: 1, refused: make(chan struct{}, 1)}
	up := websocket.Upgrader{}
	f := newForwardFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
		// Half a message, then the rest once the router refused the next
		// request.
		raw := c.UnderlyingConn()
		part := `{"type":"event",`
		_, _ = raw.Write(append([]byte{opText, byte(len(part))}, part...))
		select {
		case <-q.refused:
		case <-time.After(10 * time.Second):
		}
		part = `"event":"long"}`
		_, _ = raw.Write(append([]byte{0x80 | opContinuation, byte(len(part))}, part...))
		_, _, _ = c.ReadMessage()
	}), Limits{}, func(r *Router) { r.CountRequests(q) })
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws://"+f.addr+"/", http.Header{"Host": {"gw.example"}})
	if err != nil {
		t.Fatalf("dial through the router: %v (%v)", err, resp)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	send := func(req string) {
		t.Helper()
		if err := conn.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"type":"req","id":1}`)
	// NextReader returns once the message's first fragment is here, so
	// the router is inside the gateway's message when it refuses.
	_, rd, err := conn.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	send(`{"type":"req","id":2}`)
	msg, err := io.ReadAll(rd)
	if err != nil || string(msg) != `{"type":"event","event":"long"}` {
		t.Fatalf("gateway's message %q, %v", msg, err)
	}
	if _, msg, err = conn.ReadMessage(); err != nil || !strings.HasPrefix(string(msg), `{"type":"res","id":2,"ok":false`) {
		t.Fatalf("then %q, %v; want the refusal of request 2", msg, err)
	}
}
