package supervisor

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/clawd-dev/clawd/openclawcfg"
)

// warmTimeout bounds the WebSocket connect that warms a squeezed gateway.
const warmTimeout = 10 * time.Second

// warm does what a client does first after a wake, on the thawed gateway
// between the two squeezes: a WebSocket upgrade, the gateway's
// connect.challenge and a connect request, answered (hello-ok, or a
// refusal: either way the gateway ran its handshake and auth path). What
// the kernel then keeps resident is what the next client touches, not
// just what a ready probe does: with a ready probe only, a thawed real
// gateway read ~27,000 pages back from zram before its first hello-ok;
// warmed like this, about half as many (README, "The Compressed tier").
// Best effort: a gateway that does not answer is squeezed all the same.
// The identity is the one the router gives a request routed by hostname
// (trusted-proxy auth, see router/upstream_auth.go).
func warm(ctx context.Context, addr, host string) {
	ctx, cancel := context.WithTimeout(ctx, warmTimeout)
	defer cancel()
	h := http.Header{
		openclawcfg.UserHeader: {"host:" + host},
		"X-Forwarded-For":      {openclawcfg.HostAddress()},
		"Origin":               {"http://" + host},
	}
	d := websocket.Dialer{HandshakeTimeout: warmTimeout}
	conn, resp, err := d.DialContext(ctx, "ws://"+addr+"/", h)
	if err != nil {
		return
	}
	defer conn.Close()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	var challenge struct {
		Event string `json:"event"`
	}
	if conn.ReadJSON(&challenge) != nil || challenge.Event != "connect.challenge" {
		return
	}
	params := map[string]any{
		"minProtocol": 4, "maxProtocol": 4, "role": "operator",
		"client": map[string]any{"id": "openclaw-control-ui", "version": "clawd-warm", "platform": "linux", "mode": "webchat"},
	}
	if conn.WriteJSON(map[string]any{"type": "req", "id": "warm", "method": "connect", "params": params}) != nil {
		return
	}
	for {
		var f struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if conn.ReadJSON(&f) != nil || (f.Type == "res" && f.ID == "warm") {
			return
		}
	}
}
