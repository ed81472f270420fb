package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestRouterForwarding checks the router's forwarding against real
// gateways: the WebSocket handshake, SSE streaming, the header size limit,
// the read-header timeout, and that no request can be steered to another
// tenant.
func TestRouterForwarding(t *testing.T) {
	d := startDaemon(t, "--router.readheadertimeout=1s")
	d.mustClawd("namespace", "create", "alpha", "--hostname=alpha.localhost")
	d.mustClawd("namespace", "create", "beta", "--hostname=beta.localhost")

	t.Run("WebSocket handshake", func(t *testing.T) {
		dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		conn, resp, err := dialer.Dial("ws://"+d.routerAddr+"/", http.Header{"Host": {"alpha.localhost"}})
		if err != nil {
			t.Fatalf("websocket through the router: %v (%+v)", err, resp)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var challenge struct {
			Type  string `json:"type"`
			Event string `json:"event"`
		}
		if err := conn.ReadJSON(&challenge); err != nil || challenge.Event != "connect.challenge" {
			t.Fatalf("first frame %+v, %v; want the connect.challenge event", challenge, err)
		}
		// No token and no device identity: behind the router the gateway
		// runs in trusted-proxy mode and takes the router's word for who
		// calls, as OpenClaw 2026.9.6 does.
		connect := map[string]any{"type": "req", "id": "1", "method": "connect",
			"params": map[string]any{"role": "operator"}}
		if err := conn.WriteJSON(connect); err != nil {
			t.Fatal(err)
		}
		var hello struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			OK      bool   `json:"ok"`
			Payload struct {
				Type   string `json:"type"`
				Server struct {
					Namespace string `json:"namespace"`
				} `json:"server"`
				Auth struct {
					Method string `json:"method"`
				} `json:"auth"`
			} `json:"payload"`
		}
		if err := conn.ReadJSON(&hello); err != nil {
			t.Fatalf("no reply to connect: %v", err)
		}
		if hello.Type != "res" || hello.ID != "1" || !hello.OK || hello.Payload.Type != "hello-ok" || hello.Payload.Server.Namespace != "alpha" ||
			hello.Payload.Auth.Method != "trusted-proxy" {
			t.Fatalf("connect reply %+v, want hello-ok from alpha by trusted-proxy auth", hello)
		}
	})

	t.Run("SSE first event before the end", func(t *testing.T) {
		body := `{"model":"openclaw","stream":true,"messages":[{"role":"user","content":"one two three four five six"}]}`
		req, _ := http.NewRequest("POST", "http://"+d.routerAddr+"/v1/chat/completions", strings.NewReader(body))
		req.Host = "alpha.localhost"
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		// The stand-in writes three events 200 ms apart, then [DONE]. A
		// router that buffered would hand over everything at once; one
		// that streams has only the first event when it arrives.
		br := bufio.NewReader(resp.Body)
		first, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(first, "data: {") {
			t.Fatalf("first line %q, %v", first, err)
		}
		buffered, _ := br.Peek(br.Buffered())
		if strings.Contains(string(buffered), "[DONE]") {
			t.Fatalf("the whole stream arrived with its first event: %q", buffered)
		}
		rest, err := io.ReadAll(br)
		if err != nil || strings.Count(string(rest), "data: {") != 2 || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
			t.Fatalf("rest of the stream %q, %v; want two more events and [DONE]", rest, err)
		}
	})

	t.Run("the gateway's trusted-proxy auth lets the router in", func(t *testing.T) {
		// The stand-in checks auth as OpenClaw does in trusted-proxy mode:
		// a connection from a trusted proxy that names the user.
		if code, _, body := keyedGet(t, d, "alpha.localhost", "/v1/models", nil); code != 200 {
			t.Fatalf("GET /v1/models through the router: %d %s", code, body)
		}
		addr := d.get("alpha").Status.Address
		resp, err := http.Get("http://" + addr + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("GET /v1/models straight to the gateway without a user: %d, want 401", resp.StatusCode)
		}
	})

	t.Run("oversize headers get 431", func(t *testing.T) {
		// The router answers 431 while the client is still writing the
		// head, then reads the rest before closing: the client gets the
		// answer, never a reset connection.
		for attempt := range 5 {
			req, _ := http.NewRequest("GET", "http://"+d.routerAddr+"/__standin", nil)
			req.Host = "alpha.localhost"
			req.Header.Set("X-Big", strings.Repeat("x", 80<<10))
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				t.Fatalf("attempt %d: %v, want a 431", attempt+1, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("attempt %d: status %d, want 431: %s", attempt+1, resp.StatusCode, body)
			}
		}
		if code, _, body := keyedGet(t, d, "alpha.localhost", "/__standin", map[string]string{"X-Big": strings.Repeat("x", 16<<10)}); standinOf(t, code, body) != "alpha" {
			t.Fatal("a 16 KiB header did not go through")
		}
	})

	t.Run("slowloris is cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", d.routerAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_, _ = io.Copy(io.Discard, conn)
		}()
		if _, err := io.WriteString(conn, "GET /__standin HTTP/1.1\r\nHost: alpha.localhost\r\n"); err != nil {
			t.Fatal(err)
		}
		// A header line every 200 ms would take 20 s to finish the head;
		// the router (--router.readheadertimeout=1s) must not wait that long.
		for i := range 100 {
			select {
			case <-closed:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(conn, "X-Slow-%d: 1\r\n", i); err != nil {
				return
			}
		}
		t.Fatal("the router read a 20 s request head to its end")
	})

	secret, _ := createKey(t, d, "--namespace=alpha", "--name=spoof")
	t.Run("no spoofing reaches another tenant", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			head string
			want string // namespace that must answer; "" for a refusal
			code int    // the refusal's status
		}{
			{"X-Forwarded-Host", "GET /__standin HTTP/1.1\r\nHost: alpha.localhost\r\nX-Forwarded-Host: beta.localhost\r\n", "alpha", 0},
			{"absolute form names beta", "GET http://beta.localhost/__standin HTTP/1.1\r\nHost: alpha.localhost\r\n", "beta", 0},
			{"absolute form names alpha", "GET http://alpha.localhost/__standin HTTP/1.1\r\nHost: beta.localhost\r\n", "alpha", 0},
			{"alpha's key, absolute form to beta", "GET http://beta.localhost/__standin HTTP/1.1\r\nHost: alpha.localhost\r\nX-API-Key: " + secret + "\r\n", "", http.StatusForbidden},
			{"alpha's key, Host beta", "GET /__standin HTTP/1.1\r\nHost: beta.localhost\r\nX-API-Key: " + secret + "\r\n", "", http.StatusForbidden},
			{"two Host fields", "GET /__standin HTTP/1.1\r\nHost: alpha.localhost\r\nHost: beta.localhost\r\n", "", http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, body := rawRequest(t, d.routerAddr, tc.head)
				if tc.want == "" {
					if code != tc.code {
						t.Fatalf("status %d, want %d: %s", code, tc.code, body)
					}
					return
				}
				if ns := standinOf(t, code, body); ns != tc.want {
					t.Fatalf("answered by %s, want %s", ns, tc.want)
				}
			})
		}
	})
}

// rawRequest sends a request head as written (plus Connection: close) and
// returns the reply's status and body.
func rawRequest(t *testing.T, addr, head string) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, head+"Connection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var p struct{ Status int }
	if resp.StatusCode >= 400 && (json.Unmarshal(body, &p) != nil || p.Status != resp.StatusCode) {
		t.Errorf("refusal %d is not a problem document: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, body
}
