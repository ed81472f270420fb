package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeClock lets readiness tests move time without sleeping.
type fakeClock struct{ nanos atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.nanos.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.nanos.Add(int64(d)) }
func newFakeClock(start time.Time) *fakeClock {
	c := &fakeClock{}
	c.nanos.Store(start.UnixNano())
	return c
}
func quietLogger() *log.Logger { return log.New(io.Discard, "", 0) }
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// newTestGateway builds a gateway with token "secret" and a fake clock;
// edit may change the settings first.
func newTestGateway(t *testing.T, edit func(*settings)) (*gateway, *fakeClock) {
	t.Helper()
	dir := t.TempDir()
	s := settings{
		port:       defaultPort,
		namespace:  "ns-test",
		stateDir:   dir,
		configPath: filepath.Join(dir, "openclaw.json"),
		envToken:   "secret",
	}
	if edit != nil {
		edit(&s)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := newFakeClock(start)
	g := newGateway(s, 7, start, quietLogger())
	g.now = clock.now
	return g, clock
}

func do(g http.Handler, method, path, auth, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	return rec
}

func TestProbes(t *testing.T) {
	g, _ := newTestGateway(t, nil)
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{"GET", "/health", 200, `{"ok":true,"status":"live"}`},
		{"GET", "/healthz", 200, `{"ok":true,"status":"live"}`},
		{"HEAD", "/healthz", 200, ""},
		{"GET", "/readyz", 200, `{"ready":true}`},
		{"HEAD", "/readyz", 200, ""},
		{"POST", "/healthz", 405, ""},
		{"PUT", "/health", 405, ""},
		{"DELETE", "/readyz", 405, ""},
		{"GET", "/", 200, "<title>OpenClaw Control</title>"},
		{"GET", "/agents/main/chat", 200, "<title>OpenClaw Control</title>"},
		{"GET", "/__standin/sleep?ms=5", 200, `{"slept":5}`},
		{"GET", "/__standin/sleep?ms=abc", 400, ""},
		{"GET", "/__standin/sleep?ms=-1", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := do(g, tt.method, tt.path, "", "")
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantBody != "" && !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Fatalf("body %q does not contain %q", rec.Body, tt.wantBody)
			}
		})
	}
}

func TestReadinessDelay(t *testing.T) {
	g, clock := newTestGateway(t, func(s *settings) { s.startupDelay = 15 * time.Second })
	srv := httptest.NewServer(g)
	defer srv.Close()

	steps := []struct {
		name      string
		advance   time.Duration
		wantReady int
		wantBody  string
		wantWS    string // "UNAVAILABLE" or "hello-ok"
	}{
		{"at start", 0, 503, `{"ready":false,"reason":"startup-sidecars"}`, "UNAVAILABLE"},
		{"just before", 15*time.Second - time.Millisecond, 503, `"startup-sidecars"`, "UNAVAILABLE"},
		{"after delay", time.Millisecond, 200, `{"ready":true}`, "hello-ok"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.advance(st.advance)
			if rec := do(g, "GET", "/healthz", "", ""); rec.Code != 200 {
				t.Fatalf("healthz %d: liveness must not wait for readiness", rec.Code)
			}
			rec := do(g, "GET", "/readyz", "", "")
			if rec.Code != st.wantReady || !strings.Contains(rec.Body.String(), st.wantBody) {
				t.Fatalf("readyz = %d %q, want %d %q", rec.Code, rec.Body, st.wantReady, st.wantBody)
			}

			conn := dialAndChallenge(t, srv.URL)
			defer conn.Close()
			sendConnect(t, conn, "secret")
			res := readFrame(t, conn)
			switch st.wantWS {
			case "hello-ok":
				if res.Payload["type"] != "hello-ok" {
					t.Fatalf("want hello-ok, got %+v", res)
				}
			case "UNAVAILABLE":
				if res.OK || res.Error.Code != "UNAVAILABLE" || res.Error.Details["reason"] != "startup-sidecars" ||
					res.Error.Message != "gateway starting; retry shortly" {
					t.Fatalf("want UNAVAILABLE res, got %+v", res)
				}
			}
		})
	}
}

func TestBootCounter(t *testing.T) {
	t.Run("counts up and persists", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state", "nested")
		for want := 1; want <= 3; want++ {
			got, err := incrementBootCount(dir)
			if err != nil || got != want {
				t.Fatalf("boot %d: got %d, %v", want, got, err)
			}
		}
		data, _ := os.ReadFile(filepath.Join(dir, bootCountFile))
		if strings.TrimSpace(string(data)) != "3" {
			t.Fatalf("file holds %q, want 3", data)
		}
	})
	t.Run("corrupt file is an error", func(t *testing.T) {
		dir := t.TempDir()
		_ = os.WriteFile(filepath.Join(dir, bootCountFile), []byte("seven"), 0o600)
		if _, err := incrementBootCount(dir); err == nil {
			t.Fatal("want error for corrupt counter")
		}
	})
	t.Run("STANDIN_CRASH exits 1 after counting", func(t *testing.T) {
		dir := t.TempDir()
		env := mapEnv(map[string]string{"OPENCLAW_STATE_DIR": dir, "STANDIN_CRASH": "1"})
		for want := 1; want <= 2; want++ {
			if code := run(nil, env, io.Discard); code != 1 {
				t.Fatalf("exit code %d, want 1", code)
			}
			data, _ := os.ReadFile(filepath.Join(dir, bootCountFile))
			if got := strings.TrimSpace(string(data)); got != string(rune('0'+want)) {
				t.Fatalf("after run %d counter is %q", want, got)
			}
		}
	})
}

func TestInfoReloadsConfig(t *testing.T) {
	g, _ := newTestGateway(t, nil)
	tests := []struct {
		name, config, wantModel string
		wantConfigErr           bool
	}{
		{"no config", "", "", false},
		{"object form", `{"agents":{"defaults":{"model":{"primary":"anthropic/claude-x","fallbacks":["openai/y"]}}}}`, "anthropic/claude-x", false},
		{"edited", `{"agents":{"defaults":{"model":{"primary":"openai/gpt-z"}}}}`, "openai/gpt-z", false},
		{"string form", `{"agents":{"defaults":{"model":"local/tiny"}}}`, "local/tiny", false},
		{"broken", `{"agents":`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.config != "" {
				if err := os.WriteFile(g.configPath, []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			rec := do(g, "GET", "/__standin", "", "")
			var info standinInfo
			if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil || rec.Code != 200 {
				t.Fatalf("status %d body %q: %v", rec.Code, rec.Body, err)
			}
			if info.ModelPrimary != tt.wantModel || (info.ConfigError != "") != tt.wantConfigErr {
				t.Fatalf("got model %q configError %q", info.ModelPrimary, info.ConfigError)
			}
			if info.Namespace != "ns-test" || info.BootCount != 7 || info.PID != os.Getpid() ||
				info.StartedAt != "2026-01-02T03:04:05Z" {
				t.Fatalf("unexpected info %+v", info)
			}
		})
	}
}

func TestTokenFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "openclaw.json")
	_ = os.WriteFile(cfg, []byte(`{"gateway":{"auth":{"token":"from-file"}}}`), 0o600)
	tests := []struct{ envToken, want string }{
		{"", "from-file"},
		{"from-env", "from-env"},
	}
	for _, tt := range tests {
		t.Run("env="+tt.envToken, func(t *testing.T) {
			g := newGateway(settings{stateDir: dir, configPath: cfg, envToken: tt.envToken}, 1, time.Now(), quietLogger())
			if g.token != tt.want {
				t.Fatalf("token %q, want %q", g.token, tt.want)
			}
		})
	}
}

func TestChatCompletionsAuth(t *testing.T) {
	body := `{"model":"openclaw","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}]}`
	tests := []struct {
		name, token, auth, path string
		wantStatus              int
	}{
		{"no header", "secret", "", "/v1/chat/completions", 401},
		{"wrong token", "secret", "Bearer nope", "/v1/chat/completions", 401},
		{"not bearer", "secret", "Basic c2VjcmV0", "/v1/chat/completions", 401},
		{"right token", "secret", "Bearer secret", "/v1/chat/completions", 200},
		{"no token configured", "", "", "/v1/chat/completions", 200},
		{"models without token", "secret", "", "/v1/models", 401},
		{"models with token", "secret", "Bearer secret", "/v1/models", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newTestGateway(t, func(s *settings) { s.envToken = tt.token })
			method := "POST"
			if tt.path == "/v1/models" {
				method = "GET"
			}
			rec := do(g, method, tt.path, tt.auth, body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (%q)", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("content type %q", ct)
			}
			switch {
			case rec.Code == 200 && method == "POST":
				var resp struct {
					Object  string
					Choices []struct {
						Message struct{ Role, Content string }
					}
				}
				_ = json.Unmarshal(rec.Body.Bytes(), &resp)
				if resp.Object != "chat.completion" || len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "hello there" {
					t.Fatalf("unexpected completion %s", rec.Body)
				}
			case rec.Code == 200:
				if !strings.Contains(rec.Body.String(), `"id":"openclaw"`) {
					t.Fatalf("models list lacks openclaw: %s", rec.Body)
				}
			}
		})
	}
}

func TestChatCompletionsStreams(t *testing.T) {
	g, _ := newTestGateway(t, nil)
	srv := httptest.NewServer(g)
	defer srv.Close()

	const msg = "stream me three ways"
	req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"`+msg+`"}]}]}`))
	req.Header.Set("Authorization", "Bearer secret")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}

	var events []string
	var firstAt time.Duration
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			if len(events) == 0 {
				firstAt = time.Since(start)
			}
			events = append(events, data)
		}
	}
	total := time.Since(start)

	if len(events) != 4 || events[3] != "[DONE]" {
		t.Fatalf("events %q, want 3 chunks and [DONE]", events)
	}
	// Two 200 ms pauses separate the chunks; a buffered reply would put the
	// first chunk at the very end.
	if total-firstAt < 300*time.Millisecond {
		t.Fatalf("first chunk at %s, end at %s: not streamed", firstAt, total)
	}
	var joined strings.Builder
	for _, e := range events[:3] {
		var chunk struct {
			Object  string
			Choices []struct{ Delta struct{ Content string } }
		}
		if err := json.Unmarshal([]byte(e), &chunk); err != nil || chunk.Object != "chat.completion.chunk" {
			t.Fatalf("bad chunk %q: %v", e, err)
		}
		joined.WriteString(chunk.Choices[0].Delta.Content)
	}
	if joined.String() != msg {
		t.Fatalf("chunks join to %q, want %q", joined.String(), msg)
	}
}

// wsRes is a decoded "res" frame.
type wsRes struct {
	Type    string
	ID      any
	OK      bool
	Payload map[string]any
	Error   struct {
		Code, Message string
		Details       map[string]any
	}
}

func dialAndChallenge(t *testing.T, httpURL string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(httpURL, "http")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ev struct {
		Type, Event string
		Payload     struct {
			Nonce string
			TS    int64
		}
	}
	if err := conn.ReadJSON(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "event" || ev.Event != "connect.challenge" || len(ev.Payload.Nonce) != 32 || ev.Payload.TS == 0 {
		t.Fatalf("bad challenge %+v", ev)
	}
	return conn
}

func sendConnect(t *testing.T, conn *websocket.Conn, token string) {
	t.Helper()
	params := map[string]any{"minProtocol": 4, "maxProtocol": 4, "role": "operator"}
	if token != "" {
		params["auth"] = map[string]any{"token": token}
	}
	if err := conn.WriteJSON(map[string]any{"type": "req", "id": "c1", "method": "connect", "params": params}); err != nil {
		t.Fatal(err)
	}
}

func readFrame(t *testing.T, conn *websocket.Conn) wsRes {
	t.Helper()
	var res wsRes
	if err := conn.ReadJSON(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWebSocketHandshake(t *testing.T) {
	tests := []struct {
		name, serverToken, clientToken string
		rawFirst                       string // sent instead of a connect request
		wantClose                      int
		wantReason                     string
	}{
		{name: "good token", serverToken: "secret", clientToken: "secret"},
		{name: "any token without auth", serverToken: "", clientToken: "whatever"},
		{name: "bad token", serverToken: "secret", clientToken: "wrong", wantClose: 1008, wantReason: "unauthorized"},
		{name: "missing token", serverToken: "secret", wantClose: 1008, wantReason: "unauthorized"},
		{name: "unpaired", wantClose: 1008, wantReason: "NOT_PAIRED: device identity required"},
		{name: "not connect", serverToken: "secret", rawFirst: `{"type":"req","id":1,"method":"ping"}`, wantClose: 1008},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newTestGateway(t, func(s *settings) { s.envToken = tt.serverToken })
			srv := httptest.NewServer(g)
			defer srv.Close()
			conn := dialAndChallenge(t, srv.URL)
			defer conn.Close()

			if tt.rawFirst != "" {
				_ = conn.WriteMessage(websocket.TextMessage, []byte(tt.rawFirst))
			} else {
				sendConnect(t, conn, tt.clientToken)
			}

			if tt.wantClose != 0 {
				_, _, err := conn.ReadMessage()
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != tt.wantClose || (tt.wantReason != "" && ce.Text != tt.wantReason) {
					t.Fatalf("want close %d %q, got %v", tt.wantClose, tt.wantReason, err)
				}
				return
			}

			hello := readFrame(t, conn)
			server, _ := hello.Payload["server"].(map[string]any)
			if !hello.OK || hello.ID != "c1" || hello.Payload["type"] != "hello-ok" ||
				hello.Payload["protocol"] != float64(4) || server["namespace"] != "ns-test" {
				t.Fatalf("bad hello %+v", hello)
			}

			_ = conn.WriteJSON(map[string]any{"type": "req", "id": 42, "method": "ping"})
			if pong := readFrame(t, conn); !pong.OK || pong.ID != float64(42) || pong.Payload["pong"] != true {
				t.Fatalf("bad pong %+v", pong)
			}
			_ = conn.WriteJSON(map[string]any{"type": "req", "id": "x", "method": "chat.send"})
			if res := readFrame(t, conn); res.OK || res.ID != "x" || res.Error.Code == "" || res.Error.Details["echo"] == nil {
				t.Fatalf("want error res echoing the frame, got %+v", res)
			}
			_ = conn.WriteMessage(websocket.TextMessage, []byte("not json"))
			if res := readFrame(t, conn); res.OK || res.Error.Details["echo"] != "not json" {
				t.Fatalf("want error res for junk, got %+v", res)
			}

			// Shutdown must reach open sockets with a close frame.
			g.closeSockets()
			_, _, err := conn.ReadMessage()
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("want 1001 on shutdown, got %v", err)
			}
		})
	}
}

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantPort int
		wantErr  bool
		check    func(settings) bool
	}{
		{name: "defaults", wantPort: 18789, check: func(s settings) bool {
			return s.stateDir == defaultStateDir && s.configPath == defaultStateDir+"/openclaw.json"
		}},
		{name: "PORT", env: map[string]string{"PORT": "9000"}, wantPort: 9000},
		{name: "--port wins", args: []string{"--port", "9100"}, env: map[string]string{"PORT": "9000"}, wantPort: 9100},
		{name: "--port=", args: []string{"--port=9200"}, wantPort: 9200},
		{name: "real gateway command line", args: strings.Fields("gateway run --bind lan --port 19001 --auth token --allow-unconfigured"), wantPort: 19001},
		{name: "bad port", env: map[string]string{"PORT": "http"}, wantErr: true},
		{name: "state and config paths", wantPort: 18789,
			env:   map[string]string{"OPENCLAW_STATE_DIR": "/s", "OPENCLAW_CONFIG_PATH": "/c.json"},
			check: func(s settings) bool { return s.stateDir == "/s" && s.configPath == "/c.json" }},
		{name: "delays and stress", wantPort: 18789,
			env: map[string]string{"STANDIN_STARTUP_DELAY": "15s", "STANDIN_LISTEN_DELAY": "2s", "STANDIN_CRASH_AFTER": "1m",
				"STANDIN_MEMORY_GROWTH": "50", "STANDIN_CPU_BURN": "2", "STANDIN_CRASH": "true"},
			check: func(s settings) bool {
				return s.startupDelay == 15*time.Second && s.listenDelay == 2*time.Second && s.crashAfter == time.Minute &&
					s.memoryMiBps == 50 && s.cpuBurners == 2 && s.crash
			}},
		{name: "bad duration", env: map[string]string{"STANDIN_STARTUP_DELAY": "15"}, wantErr: true},
		{name: "negative growth", env: map[string]string{"STANDIN_MEMORY_GROWTH": "-1"}, wantErr: true},
		{name: "bad crash flag", env: map[string]string{"STANDIN_CRASH": "yes please"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := loadSettings(tt.args, mapEnv(tt.env))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if s.port != tt.wantPort {
				t.Fatalf("port %d, want %d", s.port, tt.wantPort)
			}
			if tt.check != nil && !tt.check(s) {
				t.Fatalf("unexpected settings %+v", s)
			}
		})
	}
}

func TestSplitInThree(t *testing.T) {
	for _, s := range []string{"", "a", "ab", "abc", "héllo wörld", "stream me three ways"} {
		t.Run(s, func(t *testing.T) {
			parts := splitInThree(s)
			if len(parts) != 3 || strings.Join(parts, "") != s {
				t.Fatalf("split %q into %q", s, parts)
			}
		})
	}
}

// In trusted-proxy mode a connect needs neither token nor device identity,
// as with OpenClaw 2026.9.6: the upgrade request from a trusted proxy,
// naming an allowed user with the required headers, is the credential.
func TestWebSocketTrustedProxy(t *testing.T) {
	tests := []struct {
		name    string
		proxies string
		headers map[string]string
		want    bool
	}{
		{"from the proxy with a user", `["127.0.0.1"]`, map[string]string{"X-Forwarded-User": "alice", "X-Forwarded-Proto": "https"}, true},
		{"from the proxy's subnet", `["127.0.0.0/8"]`, map[string]string{"X-Forwarded-User": "alice", "X-Forwarded-Proto": "https"}, true},
		{"not from a trusted proxy", `["10.0.0.1"]`, map[string]string{"X-Forwarded-User": "alice", "X-Forwarded-Proto": "https"}, false},
		{"no user", `["127.0.0.1"]`, map[string]string{"X-Forwarded-Proto": "https"}, false},
		{"a required header missing", `["127.0.0.1"]`, map[string]string{"X-Forwarded-User": "alice"}, false},
		{"a user not allowed", `["127.0.0.1"]`, map[string]string{"X-Forwarded-User": "mallory", "X-Forwarded-Proto": "https"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newTestGateway(t, func(s *settings) { s.envToken = "" })
			cfg := `{"gateway":{"trustedProxies":` + tt.proxies + `,"auth":{"mode":"trusted-proxy","trustedProxy":{` +
				`"userHeader":"x-forwarded-user","requiredHeaders":["x-forwarded-proto"],"allowUsers":["alice"]}}}}`
			if err := os.WriteFile(g.configPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(g)
			defer srv.Close()
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/", h)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := conn.ReadMessage(); err != nil { // the challenge
				t.Fatal(err)
			}
			sendConnect(t, conn, "") // no token, no device
			if !tt.want {
				_, _, err := conn.ReadMessage()
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != "unauthorized" {
					t.Fatalf("want close 1008 unauthorized, got %v", err)
				}
				return
			}
			hello := readFrame(t, conn)
			auth, _ := hello.Payload["auth"].(map[string]any)
			if !hello.OK || hello.Payload["type"] != "hello-ok" || auth["method"] != "trusted-proxy" || auth["user"] != "alice" || auth["role"] != "operator" {
				t.Fatalf("want hello-ok by trusted-proxy for alice, got %+v", hello)
			}
		})
	}
}
