package router

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/clawd-dev/clawd/openclawcfg"
)

// The gateway learns who the router let in, and only from the router: a
// key's id, or the hostname the request came by; a client's own claim is
// dropped. A loopback client is forwarded as the host's address, which a
// trusted-proxy gateway can attribute.
func TestGatewayLearnsTheUser(t *testing.T) {
	f := newAuthFixture(t)
	host := openclawcfg.HostAddress()
	tests := []struct {
		name    string
		host    string
		headers []string
		user    string
	}{
		{"by hostname", "a.example", nil, "host:a.example"},
		{"hostname with port and case", "A.Example:8080", nil, "host:a.example"},
		{"by key", "a.example", []string{"X-API-Key", f.secret["a"]}, f.key["a"].ID},
		{"by key, any host", "10.9.8.7", []string{"Authorization", "Bearer " + f.secret["b"]}, f.key["b"].ID},
		{"claim dropped", "a.example", []string{"X-Clawd-User", "admin@example.com"}, "host:a.example"},
		{"claims dropped, any spelling", "a.example", []string{"x-clawd-user", "one", "X-CLAWD-USER", "two"}, "host:a.example"},
		{"claim dropped with a key", "b.example", []string{"X-API-Key", f.secret["b"], "X-Clawd-User", "a"}, f.key["b"].ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(tt.host, append(tt.headers, "X-Forwarded-For", "198.51.100.1")...)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var e echo
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(e.User, []string{tt.user}) {
				t.Errorf("gateway saw user %q, want [%q]", e.User, tt.user)
			}
			if !slices.Equal(e.ForwardedFor, []string{host}) {
				t.Errorf("gateway saw X-Forwarded-For %q, want [%q] (the client is on this host)", e.ForwardedFor, host)
			}
		})
	}
}

// A WebSocket upgrade carries the same identity, so a browser's Control UI
// needs no token in its first frame.
func TestWebSocketLearnsTheUser(t *testing.T) {
	up := websocket.Upgrader{}
	f := newForwardFixture(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.WriteJSON(map[string][]string{"user": r.Header.Values(openclawcfg.UserHeader), "xff": r.Header.Values("X-Forwarded-For")})
	}), Limits{})
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws://"+f.addr+"/", http.Header{"Host": {"gw.example"}, "X-Clawd-User": {"mallory"}})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got map[string][]string
	if err := conn.ReadJSON(&got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got["user"], []string{"host:gw.example"}) || !slices.Equal(got["xff"], []string{openclawcfg.HostAddress()}) {
		t.Errorf("gateway saw %v", got)
	}
}
