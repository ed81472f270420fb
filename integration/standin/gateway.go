package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

const (
	maxSleep     = 10 * time.Minute
	maxBodyBytes = 1 << 20
	controlUI    = `<!doctype html><title>OpenClaw Control</title><meta charset="utf-8"><div id="app">OpenClaw Control (clawd stand-in)</div>` + "\n"
)

// gateway is the stand-in's HTTP and WebSocket handler.
type gateway struct {
	namespace  string
	configPath string
	// token is fixed at boot: OpenClaw restarts itself when gateway.* changes.
	token     string
	bootCount int
	startedAt time.Time
	readyAt   time.Time
	hostname  string
	now       func() time.Time
	log       *log.Logger
	upgrader  websocket.Upgrader
	mux       *http.ServeMux
	// upstream calls the model providers named in the config.
	upstream *http.Client

	mu      sync.Mutex
	sockets map[*websocket.Conn]struct{}
}

func newGateway(s settings, bootCount int, start time.Time, logger *log.Logger) *gateway {
	cfg, err := readConfig(s.configPath)
	if err != nil {
		// Unlike OpenClaw (exit 78) keep going: tests may feed JSON5 or junk
		// on purpose, and /__standin reports the error.
		logger.Printf("config: %v", err)
	}
	token := s.envToken
	if token == "" {
		token = cfg.Gateway.Auth.Token
	}
	host, _ := os.Hostname()

	g := &gateway{
		namespace:  s.namespace,
		configPath: s.configPath,
		token:      token,
		bootCount:  bootCount,
		startedAt:  start,
		readyAt:    start.Add(s.startupDelay),
		hostname:   host,
		now:        time.Now,
		log:        logger,
		// Any origin: the stand-in is reached through clawd's router and test
		// clients, never from a browser that needs protecting.
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		sockets:  map[*websocket.Conn]struct{}{},
		upstream: newUpstreamClient(),
	}

	// Method-qualified patterns make the mux answer 405 on probes for free.
	m := http.NewServeMux()
	m.HandleFunc("GET /health", g.live)
	m.HandleFunc("GET /healthz", g.live)
	m.HandleFunc("GET /readyz", g.readyz)
	m.HandleFunc("GET /__standin", g.info)
	m.HandleFunc("GET /__standin/sleep", g.sleep)
	m.HandleFunc("GET /__standin/whoami", g.whoami)
	m.HandleFunc("POST /v1/chat/completions", g.requireToken(g.chatCompletions))
	m.HandleFunc("GET /v1/models", g.requireToken(g.models))
	m.HandleFunc("GET /", g.controlUI)
	g.mux = m
	return g
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// OpenClaw takes WebSocket upgrades on every path of its single port.
	if websocket.IsWebSocketUpgrade(r) {
		g.serveWebSocket(w, r)
		return
	}
	g.mux.ServeHTTP(w, r)
}

func (g *gateway) ready() bool { return !g.now().Before(g.readyAt) }

func (g *gateway) live(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "status": "live"})
}

func (g *gateway) readyz(w http.ResponseWriter, _ *http.Request) {
	if !g.ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "startup-sidecars"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": true})
}

// identity is the namespace this gateway serves: CLAWD_NAMESPACE, unless
// clawd wrote the clawd-namespace file into the state dir, as it does when a
// namespace adopts a warm-pool gateway started without one.
func (g *gateway) identity() string {
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(g.configPath), "clawd-namespace"))
	if err == nil && len(strings.TrimSpace(string(raw))) > 0 {
		return strings.TrimSpace(string(raw))
	}
	return g.namespace
}

// standinInfo is the body of GET /__standin, which only the stand-in has.
type standinInfo struct {
	Namespace    string   `json:"namespace"`
	BootCount    int      `json:"bootCount"`
	StartedAt    string   `json:"startedAt"`
	ModelPrimary string   `json:"modelPrimary"`
	PID          int      `json:"pid"`
	Hostname     string   `json:"hostname"`
	UID          int      `json:"uid"`
	GID          int      `json:"gid"`
	Ready        bool     `json:"ready"`
	Skills       []string `json:"skills"`
	ConfigError  string   `json:"configError,omitempty"`
}

func (g *gateway) info(w http.ResponseWriter, _ *http.Request) {
	// Re-read on every call so tests can watch a config hot-reload land.
	cfg, err := readConfig(g.configPath)
	info := standinInfo{
		Namespace:    g.identity(),
		BootCount:    g.bootCount,
		StartedAt:    g.startedAt.UTC().Format(time.RFC3339Nano),
		ModelPrimary: cfg.modelPrimary(),
		PID:          os.Getpid(),
		Hostname:     g.hostname,
		UID:          os.Getuid(),
		GID:          os.Getgid(),
		Ready:        g.ready(),
		Skills:       cfg.skills(),
	}
	if err != nil {
		info.ConfigError = err.Error()
	}
	writeJSON(w, http.StatusOK, info)
}

// whoami says who the gateway takes the caller for, as OpenClaw's
// trusted-proxy mode would: the user header's value when the connection
// comes from a trusted proxy, else nobody.
func (g *gateway) whoami(w http.ResponseWriter, r *http.Request) {
	cfg, err := readConfig(g.configPath)
	if err != nil || cfg.Gateway.Auth.Mode != "trusted-proxy" {
		writeJSON(w, http.StatusOK, map[string]any{"user": "", "mode": cfg.Gateway.Auth.Mode})
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	user := ""
	if header := cfg.Gateway.Auth.TrustedProxy.UserHeader; header != "" && trusted(cfg.Gateway.TrustedProxies, host) {
		user = r.Header.Get(header)
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": user, "mode": "trusted-proxy", "cookie": r.Header.Get("Cookie")})
}

// sleep holds a request open so tests can check that draining waits for it.
func (g *gateway) sleep(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	d := time.Duration(ms) * time.Millisecond
	if err != nil || ms < 0 || d > maxSleep {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "ms must be an integer from 0 to 600000"})
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		writeJSON(w, http.StatusOK, map[string]any{"slept": ms})
	case <-r.Context().Done():
	}
}

func (g *gateway) controlUI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(controlUI))
}

// requireToken checks the bearer token the way OpenClaw's HTTP APIs do.
func (g *gateway) requireToken(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// As OpenClaw's trusted-proxy mode: only a trusted proxy's
		// connection naming a user gets in; the config is read each time
		// so a hot reload counts at once.
		if proxied, user := g.proxyUser(r); proxied {
			if user == "" {
				writeJSON(w, http.StatusUnauthorized, openAIError("unauthorized", "trusted-proxy auth: not from a trusted proxy, or no user"))
				return
			}
			next(w, r)
			return
		}
		if g.token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !tokenEqual(got, g.token) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="openclaw"`)
				writeJSON(w, http.StatusUnauthorized, openAIError("unauthorized", "missing or invalid bearer token"))
				return
			}
		}
		next(w, r)
	}
}

// proxyUser applies OpenClaw's trusted-proxy auth to r: proxied is true
// when the config's auth mode is trusted-proxy (read each time, so a hot
// reload counts at once), and user is who the proxy says is calling, ""
// when r is not from a trusted proxy, lacks the user header or a required
// header, or names a user not allowed.
func (g *gateway) proxyUser(r *http.Request) (proxied bool, user string) {
	cfg, err := readConfig(g.configPath)
	if err != nil || cfg.Gateway.Auth.Mode != "trusted-proxy" {
		return false, ""
	}
	tp := cfg.Gateway.Auth.TrustedProxy
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if !trusted(cfg.Gateway.TrustedProxies, host) || tp.UserHeader == "" {
		return true, ""
	}
	for _, h := range tp.RequiredHeaders {
		if r.Header.Get(h) == "" {
			return true, ""
		}
	}
	user = r.Header.Get(tp.UserHeader)
	if len(tp.AllowUsers) > 0 && !slices.Contains(tp.AllowUsers, user) {
		return true, ""
	}
	return true, user
}

// trusted reports whether ip is one of proxies, each an address or a CIDR
// prefix as OpenClaw accepts them.
func trusted(proxies []string, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	for _, p := range proxies {
		if pfx, err := netip.ParsePrefix(p); err == nil && pfx.Contains(addr) {
			return true
		}
		if a, err := netip.ParseAddr(p); err == nil && a == addr {
			return true
		}
	}
	return false
}

func (g *gateway) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data": []map[string]any{{
			"id": "openclaw", "object": "model", "created": g.startedAt.Unix(), "owned_by": "openclaw",
		}},
	})
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type chatRequest struct {
	// Model names an agent ("openclaw", "openclaw/<agentId>"), not a
	// provider's model: the agent's config picks that.
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	// RawMessages is passed to OpenAI-shaped providers as the client sent it.
	RawMessages json.RawMessage `json:"messages"`
	Messages    []chatMessage   `json:"-"`
}

// clientModel is the model to name in the answer: the client's own.
func (r chatRequest) clientModel() string {
	if r.Model == "" {
		return "openclaw"
	}
	return r.Model
}

func (g *gateway) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes)).Decode(&req)
	if err == nil && len(req.RawMessages) > 0 && string(req.RawMessages) != "null" {
		err = json.Unmarshal(req.RawMessages, &req.Messages)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, openAIError("invalid_request_error", "invalid JSON body: "+err.Error()))
		return
	}
	if len(req.Messages) == 0 {
		req.RawMessages = json.RawMessage("[]")
	}
	// Read on every request: OpenClaw hot-reloads models and agents. With
	// no model to call, the stand-in echoes, as it did before it had any.
	cfg, _ := readConfig(g.configPath)
	if chain := cfg.modelChain(); len(chain) > 0 && len(cfg.Models.Providers) > 0 {
		g.providerCompletion(w, r, req, cfg, chain)
		return
	}
	g.echoCompletion(w, r, req)
}

// echoCompletion answers with the last user message, split in three
// streamed chunks 200 ms apart when the client streams.
func (g *gateway) echoCompletion(w http.ResponseWriter, r *http.Request, req chatRequest) {
	model := req.clientModel()
	reply := lastUserText(req.Messages)
	id := "chatcmpl-" + randomHex(12)
	created := g.now().Unix()

	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model,
			"choices": []map[string]any{{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": reply},
				"finish_reason": "stop",
			}},
			"usage": map[string]int{
				"prompt_tokens":     len(strings.Fields(reply)),
				"completion_tokens": len(strings.Fields(reply)),
				"total_tokens":      2 * len(strings.Fields(reply)),
			},
		})
		return
	}

	flusher, ok := w.(http.Flusher)
	if !ok {
		writeJSON(w, http.StatusInternalServerError, openAIError("server_error", "streaming unsupported"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	// Reverse proxies such as nginx would otherwise buffer the whole stream.
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	parts := splitInThree(reply)
	for i, part := range parts {
		if i > 0 {
			// The pause is what lets tests tell streaming from buffering.
			select {
			case <-time.After(200 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		delta := map[string]any{"content": part}
		var finish any
		if i == 0 {
			delta["role"] = "assistant"
		}
		if i == len(parts)-1 {
			finish = "stop"
		}
		chunk, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []map[string]any{{"index": 0, "delta": delta, "finish_reason": finish}},
		})
		if _, err := w.Write([]byte("data: " + string(chunk) + "\n\n")); err != nil {
			return
		}
		flusher.Flush()
	}
	_, _ = w.Write([]byte("data: [DONE]\n\n"))
	flusher.Flush()
}

// lastUserText returns the text of the last user message, whether its content
// is a string or an array of {"type":"text","text":...} parts.
func lastUserText(msgs []chatMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return messageText(msgs[i].Content)
		}
	}
	return ""
}

// messageText is a message's content as text: the string itself, or its
// text parts joined.
func messageText(content json.RawMessage) string {
	var s string
	if json.Unmarshal(content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(content, &parts)
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// splitInThree cuts s into three pieces on rune boundaries; joined they give s.
func splitInThree(s string) []string {
	n := utf8.RuneCountInString(s)
	cuts := []int{n / 3, 2 * n / 3}
	parts := make([]string, 0, 3)
	start, runeIdx, cut := 0, 0, 0
	for byteIdx := range s {
		for cut < len(cuts) && runeIdx == cuts[cut] {
			parts = append(parts, s[start:byteIdx])
			start = byteIdx
			cut++
		}
		runeIdx++
	}
	for len(parts) < 3 {
		parts = append(parts, s[start:])
		start = len(s)
	}
	return parts
}

func openAIError(kind, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": kind, "code": kind}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func tokenEqual(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}
