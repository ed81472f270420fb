package main

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

const (
	protocolVersion  = 4
	handshakeTimeout = 10 * time.Second
	closeWait        = time.Second
)

// frame is one JSON text frame of the gateway protocol, in either direction.
type frame struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Event   string          `json:"event,omitempty"`
	OK      *bool           `json:"ok,omitempty"`
	Payload any             `json:"payload,omitempty"`
	Error   *frameError     `json:"error,omitempty"`
}

// frameError is the error member of a failed "res" frame.
type frameError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

func okRes(id json.RawMessage, payload any) frame {
	ok := true
	return frame{Type: "res", ID: orNull(id), OK: &ok, Payload: payload}
}

func errRes(id json.RawMessage, code, msg string, details any) frame {
	ok := false
	return frame{Type: "res", ID: orNull(id), OK: &ok, Error: &frameError{Code: code, Message: msg, Details: details}}
}

// orNull keeps "id" present in replies even when the request had none.
func orNull(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return json.RawMessage("null")
	}
	return id
}

func (g *gateway) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has already answered with an HTTP error.
	}
	defer conn.Close()
	conn.SetReadLimit(maxBodyBytes)
	g.track(conn)
	defer g.untrack(conn)

	challenge := frame{Type: "event", Event: "connect.challenge", Payload: map[string]any{
		"nonce": randomHex(16), "ts": g.now().UnixMilli(),
	}}
	if conn.WriteJSON(challenge) != nil {
		return
	}

	_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	_, data, err := conn.ReadMessage()
	if err != nil {
		return
	}
	var req frame
	if json.Unmarshal(data, &req) != nil || req.Type != "req" || req.Method != "connect" {
		closeWith(conn, websocket.ClosePolicyViolation, "first frame must be a connect request")
		return
	}
	if !g.ready() {
		_ = conn.WriteJSON(errRes(req.ID, "UNAVAILABLE", "gateway starting; retry shortly",
			map[string]any{"reason": "startup-sidecars"}))
		closeWith(conn, websocket.CloseTryAgainLater, "gateway starting")
		return
	}

	var params struct {
		Role   string   `json:"role"`
		Scopes []string `json:"scopes"`
		Auth   struct {
			Token string `json:"token"`
		} `json:"auth"`
	}
	_ = json.Unmarshal(req.Params, &params)
	role, scopes := params.Role, params.Scopes
	if role == "" {
		role = "operator"
	}
	if len(scopes) == 0 {
		scopes = []string{"operator.read", "operator.write"}
	}
	auth := map[string]any{"method": "token", "role": role, "scopes": scopes}
	proxied, user := g.proxyUser(r)
	switch {
	case proxied && user == "":
		// As OpenClaw 2026.9.6: in trusted-proxy mode only the upgrade
		// request counts, from a trusted proxy naming an allowed user.
		closeWith(conn, websocket.ClosePolicyViolation, "unauthorized")
		return
	case proxied:
		// The proxy vouched for the caller: no token, no device identity.
		auth = map[string]any{"method": "trusted-proxy", "user": user, "role": role, "scopes": scopes}
	case g.token != "" && !tokenEqual(params.Auth.Token, g.token):
		closeWith(conn, websocket.ClosePolicyViolation, "unauthorized")
		return
	case g.token == "" && params.Auth.Token == "":
		// The stand-in has no device pairing, so this is always refused.
		closeWith(conn, websocket.ClosePolicyViolation, "NOT_PAIRED: device identity required")
		return
	}

	_ = conn.SetReadDeadline(time.Time{})
	hello := okRes(req.ID, map[string]any{
		"type":     "hello-ok",
		"protocol": protocolVersion,
		"server":   map[string]any{"namespace": g.identity(), "version": "clawd-standin", "connId": randomHex(8)},
		"auth":     auth,
	})
	if conn.WriteJSON(hello) != nil {
		return
	}

	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var f frame
		var reply frame
		switch {
		case json.Unmarshal(data, &f) != nil:
			reply = errRes(nil, "INVALID_REQUEST", "frame is not a JSON object", map[string]any{"echo": string(data)})
		case f.Type == "req" && f.Method == "ping":
			reply = okRes(f.ID, map[string]any{"pong": true})
		default:
			reply = errRes(f.ID, "INVALID_REQUEST", "the stand-in only answers ping",
				map[string]any{"echo": json.RawMessage(data)})
		}
		if conn.WriteJSON(reply) != nil {
			return
		}
	}
}

// closeWith sends a close frame and waits briefly for the peer's reply, so the
// frame is not lost to a TCP reset when the connection is torn down.
func closeWith(conn *websocket.Conn, code int, reason string) {
	deadline := time.Now().Add(closeWait)
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
	_ = conn.SetReadDeadline(deadline)
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (g *gateway) track(c *websocket.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sockets[c] = struct{}{}
}

func (g *gateway) untrack(c *websocket.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.sockets, c)
}

// closeSockets tells every WebSocket client that the gateway is going away.
func (g *gateway) closeSockets() {
	g.mu.Lock()
	defer g.mu.Unlock()
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "gateway shutting down")
	for c := range g.sockets {
		// WriteControl may run concurrently with the handler's own writes.
		_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
	}
}
