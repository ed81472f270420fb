package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeProvider is a tiny model provider that streams its reply in the
// shape of whichever of the three APIs the path names.
type fakeProvider struct {
	words   []string
	status  int    // non-zero: answer this status with errBody
	errBody string // default {"error":{"message":"upstream exploded"}}
	// midStreamError sends an error event after the first delta.
	midStreamError bool
	// hold, when set, is waited on after the first delta, so a test can see
	// that delta reach the client before the provider goes on.
	hold     chan struct{}
	heldLong atomic.Bool // hold was never released

	mu    sync.Mutex
	calls []fakeCall
}

type fakeCall struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

func newFakeProvider(t *testing.T, edit func(*fakeProvider)) (*fakeProvider, string) {
	t.Helper()
	fp := &fakeProvider{words: []string{"Hello", " from", " upstream"}}
	if edit != nil {
		edit(fp)
	}
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	return fp, srv.URL
}

func (fp *fakeProvider) Calls() []fakeCall {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return append([]fakeCall(nil), fp.calls...)
}

func (fp *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	fp.mu.Lock()
	fp.calls = append(fp.calls, fakeCall{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	fp.mu.Unlock()

	if fp.status != 0 {
		b := fp.errBody
		if b == "" {
			b = `{"error":{"message":"upstream exploded"}}`
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fp.status)
		_, _ = io.WriteString(w, b)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) {
		b, _ := json.Marshal(v)
		if s, ok := v.(string); ok {
			b = []byte(s)
		}
		if event != "" {
			fmt.Fprintf(w, "event: %s\n", event)
		}
		fmt.Fprintf(w, "data: %s\n\n", b)
		w.(http.Flusher).Flush()
	}
	afterFirst := func() {
		if fp.hold == nil {
			return
		}
		select {
		case <-fp.hold:
		case <-time.After(5 * time.Second):
			fp.heldLong.Store(true)
		}
	}

	switch {
	case strings.HasSuffix(r.URL.Path, "/chat/completions"):
		for i, word := range fp.words {
			send("", map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": word}, "finish_reason": nil}}})
			if i == 0 {
				afterFirst()
			}
		}
		send("", map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": "stop"}}})
		if so, _ := body["stream_options"].(map[string]any); so["include_usage"] == true {
			send("", map[string]any{"choices": []any{}, "usage": map[string]int{"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})
		}
		send("", "[DONE]")
	case strings.HasSuffix(r.URL.Path, "/v1/messages"):
		send("message_start", map[string]any{"type": "message_start", "message": map[string]any{"usage": map[string]int{"input_tokens": 7, "output_tokens": 1}}})
		send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]string{"type": "text", "text": ""}})
		send("ping", map[string]any{"type": "ping"})
		for i, word := range fp.words {
			send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]string{"type": "text_delta", "text": word}})
			if i == 0 {
				if fp.midStreamError {
					send("error", map[string]any{"type": "error", "error": map[string]string{"type": "overloaded_error", "message": "Overloaded"}})
					return
				}
				afterFirst()
			}
		}
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
		send("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn"}, "usage": map[string]int{"output_tokens": 3}})
		send("message_stop", map[string]any{"type": "message_stop"})
	case strings.HasSuffix(r.URL.Path, "/responses"):
		send("response.created", map[string]any{"type": "response.created", "response": map[string]any{"status": "in_progress"}})
		for i, word := range fp.words {
			send("response.output_text.delta", map[string]any{"type": "response.output_text.delta", "delta": word})
			if i == 0 {
				afterFirst()
			}
		}
		send("response.completed", map[string]any{"type": "response.completed", "response": map[string]any{
			"status": "completed", "usage": map[string]int{"input_tokens": 4, "output_tokens": 3, "total_tokens": 7}}})
	default:
		panic("fake provider: unexpected path " + r.URL.Path)
	}
}

// writeModelsConfig writes an openclaw.json with the given providers and
// the default agent's model chain.
func writeModelsConfig(t *testing.T, g *gateway, providers map[string]any, chain ...string) {
	t.Helper()
	cfg := map[string]any{
		"gateway": map[string]any{"mode": "local", "auth": map[string]any{"mode": "token"}},
		"models":  map[string]any{"mode": "merge", "providers": providers},
	}
	if len(chain) > 0 {
		cfg["agents"] = map[string]any{"defaults": map[string]any{"model": map[string]any{"primary": chain[0], "fallbacks": chain[1:]}}}
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(g.configPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func provider(baseURL, api, key string, models ...map[string]any) map[string]any {
	return map[string]any{"baseUrl": baseURL, "apiKey": key, "api": api, "models": models}
}

func modelEntry(id string, usageInStreaming bool) map[string]any {
	m := map[string]any{"id": id, "name": id, "contextWindow": 128000, "maxTokens": 4096, "input": []string{"text"},
		"reasoning": false, "cost": map[string]float64{"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0}}
	if usageInStreaming {
		m["compat"] = map[string]any{"supportsUsageInStreaming": true}
	}
	return m
}

const clientMessages = `[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},` +
	`{"role":"assistant","content":"hello"},{"role":"user","content":[{"type":"text","text":"again"}]}]`

type completion struct {
	Object  string
	Model   string
	Choices []struct {
		Message      struct{ Role, Content string }
		FinishReason string `json:"finish_reason"`
	}
	Usage *chatUsage
	Error *struct{ Message, Type string }
}

func chat(t *testing.T, g http.Handler, model string) (int, completion) {
	t.Helper()
	rec := do(g, "POST", "/v1/chat/completions", "Bearer secret", `{"model":"`+model+`","messages":`+clientMessages+`}`)
	var c completion
	if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
		t.Fatalf("answer %d %q: %v", rec.Code, rec.Body, err)
	}
	return rec.Code, c
}

func TestProviderAPIs(t *testing.T) {
	var anyMessages any
	_ = json.Unmarshal([]byte(clientMessages), &anyMessages)
	tests := []struct {
		name, api, prefix string
		usageInStreaming  bool
		wantPath          string
		wantHeaders       map[string]string // "" means absent
		wantBody          map[string]any    // nil value means absent
		wantUsage         *chatUsage
	}{
		{
			name: "openai usage in streaming", api: "openai-completions", prefix: "/openai", usageInStreaming: true,
			wantPath:    "/openai/chat/completions",
			wantHeaders: map[string]string{"Authorization": "Bearer key-1", "X-Api-Key": ""},
			wantBody: map[string]any{"model": "gpt-4o", "stream": true, "messages": anyMessages,
				"stream_options": map[string]any{"include_usage": true}},
			wantUsage: &chatUsage{5, 3, 8},
		},
		{
			name: "openai without the compat flag", api: "openai-completions", prefix: "/openai",
			wantPath:    "/openai/chat/completions",
			wantHeaders: map[string]string{"Authorization": "Bearer key-1"},
			wantBody:    map[string]any{"model": "gpt-4o", "stream": true, "messages": anyMessages, "stream_options": nil},
		},
		{
			name: "anthropic", api: "anthropic-messages", prefix: "/anthropic",
			wantPath:    "/anthropic/v1/messages",
			wantHeaders: map[string]string{"X-Api-Key": "key-1", "Anthropic-Version": "2023-06-01", "Authorization": ""},
			wantBody: map[string]any{"model": "gpt-4o", "stream": true, "max_tokens": float64(1024), "system": "be brief",
				"messages": []any{
					map[string]any{"role": "user", "content": "hi"},
					map[string]any{"role": "assistant", "content": "hello"},
					map[string]any{"role": "user", "content": "again"},
				}},
			wantUsage: &chatUsage{7, 3, 10},
		},
		{
			name: "openai responses", api: "openai-responses", prefix: "/v1",
			wantPath:    "/v1/responses",
			wantHeaders: map[string]string{"Authorization": "Bearer key-1"},
			wantBody:    map[string]any{"model": "gpt-4o", "stream": true, "input": anyMessages, "messages": nil},
			wantUsage:   &chatUsage{4, 3, 7},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp, url := newFakeProvider(t, nil)
			g, _ := newTestGateway(t, nil)
			writeModelsConfig(t, g, map[string]any{
				"up": provider(url+tt.prefix+"/", tt.api, "key-1", modelEntry("gpt-4o", tt.usageInStreaming)),
			}, "up/gpt-4o")

			code, c := chat(t, g, "openclaw/main")
			if code != 200 || c.Object != "chat.completion" || c.Model != "openclaw/main" || len(c.Choices) != 1 ||
				c.Choices[0].Message.Content != "Hello from upstream" || c.Choices[0].Message.Role != "assistant" ||
				c.Choices[0].FinishReason != "stop" {
				t.Fatalf("answer %d %+v", code, c)
			}
			if !reflect.DeepEqual(c.Usage, tt.wantUsage) {
				t.Errorf("usage %+v, want %+v", c.Usage, tt.wantUsage)
			}

			calls := fp.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls upstream, want 1", len(calls))
			}
			call := calls[0]
			if call.Path != tt.wantPath {
				t.Errorf("path %q, want %q", call.Path, tt.wantPath)
			}
			for h, want := range tt.wantHeaders {
				if got := call.Header.Get(h); got != want {
					t.Errorf("header %s = %q, want %q", h, got, want)
				}
			}
			for k, want := range tt.wantBody {
				got, ok := call.Body[k]
				if want == nil {
					if ok {
						t.Errorf("body has %s = %v, want none", k, got)
					}
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("body %s = %#v, want %#v", k, got, want)
				}
			}
		})
	}
}

// streamed reads a streamed chat completion from the stand-in, calling
// afterFirst once the first event is in.
func streamed(t *testing.T, url, body string, afterFirst func()) (status int, events []string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, []string{string(b)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, data)
			if len(events) == 1 && afterFirst != nil {
				afterFirst()
			}
		}
	}
	return resp.StatusCode, events
}

func TestProviderStreamRelay(t *testing.T) {
	for _, api := range []string{"openai-completions", "anthropic-messages", "openai-responses"} {
		t.Run(api, func(t *testing.T) {
			hold := make(chan struct{})
			fp, url := newFakeProvider(t, func(fp *fakeProvider) { fp.hold = hold })
			g, _ := newTestGateway(t, nil)
			writeModelsConfig(t, g, map[string]any{"p": provider(url, api, "k", modelEntry("m", true))}, "p/m")
			srv := httptest.NewServer(g)
			defer srv.Close()

			// The provider waits after its first delta until the client has
			// it: a stand-in that buffered would leave it waiting.
			status, events := streamed(t, srv.URL, `{"model":"openclaw","stream":true,"stream_options":{"include_usage":true},"messages":`+clientMessages+`}`,
				func() { close(hold) })
			if status != 200 || fp.heldLong.Load() {
				t.Fatalf("status %d, provider held until timeout %t: not relayed as it came", status, fp.heldLong.Load())
			}
			if len(events) == 0 || events[len(events)-1] != "[DONE]" {
				t.Fatalf("events %q, want [DONE] last", events)
			}
			var text strings.Builder
			var finish string
			var usage *chatUsage
			for i, e := range events[:len(events)-1] {
				var c struct {
					Object, Model string
					Choices       []struct {
						Delta        struct{ Role, Content string }
						FinishReason *string `json:"finish_reason"`
					}
					Usage *chatUsage
				}
				if err := json.Unmarshal([]byte(e), &c); err != nil || c.Object != "chat.completion.chunk" || c.Model != "openclaw" {
					t.Fatalf("bad chunk %q: %v", e, err)
				}
				if i == 0 && (c.Choices[0].Delta.Role != "assistant" || c.Choices[0].Delta.Content != "Hello") {
					t.Errorf("first chunk %q, want the assistant's first delta alone", e)
				}
				if len(c.Choices) > 0 {
					text.WriteString(c.Choices[0].Delta.Content)
					if c.Choices[0].FinishReason != nil {
						finish = *c.Choices[0].FinishReason
					}
				}
				if c.Usage != nil {
					usage = c.Usage
				}
			}
			if text.String() != "Hello from upstream" || finish != "stop" {
				t.Errorf("relayed %q, finish %q", text.String(), finish)
			}
			if usage == nil || usage.TotalTokens == 0 {
				t.Errorf("no usage chunk though the client asked and the provider reported: %q", events)
			}
		})
	}
}

func TestProviderFallbackAndErrors(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name          string
		primary       func(*fakeProvider) // nil: primary unreachable
		noFallback    bool
		fallback      func(*fakeProvider)
		chain         []string
		wantStatus    int
		wantFallbacks int      // calls the fallback got
		wantMessage   []string // in the error's message
	}{
		{name: "5xx falls back", primary: func(fp *fakeProvider) { fp.status = 503 },
			wantStatus: 200, wantFallbacks: 1},
		{name: "unreachable falls back", wantStatus: 200, wantFallbacks: 1},
		{name: "unknown provider falls back", chain: []string{"nope/x", "fb/claude"}, wantStatus: 200, wantFallbacks: 1},
		{name: "4xx does not fall back", primary: func(fp *fakeProvider) { fp.status = 401 },
			wantStatus: 502, wantMessage: []string{`provider "pri"`, "401 Unauthorized", "upstream exploded"}},
		{name: "unreachable without fallback", noFallback: true,
			wantStatus: 502, wantMessage: []string{`provider "pri"`, "unreachable", "connection refused"}},
		{name: "every model fails", primary: func(fp *fakeProvider) { fp.status = 500 }, fallback: func(fp *fakeProvider) { fp.status = 529 },
			wantStatus: 502, wantFallbacks: 1, wantMessage: []string{"all models failed (2)", "500 Internal Server Error", `provider "fb"`, "529"}},
		{name: "long error body is cut", primary: func(fp *fakeProvider) { fp.status = 400; fp.errBody = strings.Repeat("x", 5000) },
			wantStatus: 502, wantMessage: []string{"400 Bad Request", strings.Repeat("x", errorBodyLimit) + "…"}},
		{name: "error event mid-stream", noFallback: true, primary: func(fp *fakeProvider) { fp.midStreamError = true },
			wantStatus: 502, wantMessage: []string{"Overloaded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			priURL := closedURL
			if tt.primary != nil {
				_, priURL = newFakeProvider(t, tt.primary)
			}
			fb, fbURL := newFakeProvider(t, tt.fallback)
			providers := map[string]any{
				"pri": provider(priURL, "anthropic-messages", "k1", modelEntry("claude", false)),
				"fb":  provider(fbURL, "anthropic-messages", "k2", modelEntry("claude", false)),
			}
			chain := tt.chain
			if chain == nil {
				chain = []string{"pri/claude", "fb/claude"}
				if tt.noFallback {
					chain = chain[:1]
				}
			}
			g, _ := newTestGateway(t, nil)
			writeModelsConfig(t, g, providers, chain...)

			code, c := chat(t, g, "openclaw")
			if code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %+v", code, tt.wantStatus, c)
			}
			if n := len(fb.Calls()); n != tt.wantFallbacks {
				t.Errorf("fallback called %d times, want %d", n, tt.wantFallbacks)
			}
			if code == 200 {
				if c.Choices[0].Message.Content != "Hello from upstream" {
					t.Errorf("reply %+v", c)
				}
				return
			}
			if c.Error == nil || c.Error.Type != "upstream_error" {
				t.Fatalf("want an OpenAI-shaped error, got %+v", c)
			}
			for _, want := range tt.wantMessage {
				if !strings.Contains(c.Error.Message, want) {
					t.Errorf("error message %q lacks %q", c.Error.Message, want)
				}
			}
			if strings.Contains(c.Error.Message, "k1") || strings.Contains(c.Error.Message, "k2") {
				t.Errorf("error message shows an API key: %q", c.Error.Message)
			}
		})
	}

	t.Run("streaming client falls back before its first byte", func(t *testing.T) {
		_, priURL := newFakeProvider(t, func(fp *fakeProvider) { fp.status = 502 })
		_, fbURL := newFakeProvider(t, nil)
		g, _ := newTestGateway(t, nil)
		writeModelsConfig(t, g, map[string]any{
			"pri": provider(priURL, "openai-completions", "k", modelEntry("a", false)),
			"fb":  provider(fbURL, "openai-responses", "k", modelEntry("b", false)),
		}, "pri/a", "fb/b")
		srv := httptest.NewServer(g)
		defer srv.Close()
		status, events := streamed(t, srv.URL, `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
		if status != 200 || len(events) != 5 || events[4] != "[DONE]" || !strings.Contains(events[0], `"Hello"`) {
			t.Fatalf("status %d events %q", status, events)
		}
	})
}

func TestProviderConfigReload(t *testing.T) {
	fp, url := newFakeProvider(t, nil)
	g, _ := newTestGateway(t, nil)
	t.Setenv("STANDIN_TEST_PROVIDER_KEY", "from-env")

	steps := []struct {
		name      string
		providers map[string]any
		chain     []string
		wantReply string
		wantPath  string
		wantAuth  string
	}{
		{name: "no primary echoes", providers: map[string]any{"o": provider(url, "openai-completions", "k", modelEntry("m", false))},
			wantReply: "again"},
		{name: "primary but no providers echoes", chain: []string{"o/m"}, wantReply: "again"},
		{name: "openai", providers: map[string]any{"o": provider(url+"/o", "openai-completions", "k", modelEntry("m", false))},
			chain: []string{"o/m"}, wantReply: "Hello from upstream", wantPath: "/o/chat/completions", wantAuth: "Bearer k"},
		{name: "bare model and a SecretRef key", chain: []string{"m"}, wantReply: "Hello from upstream", wantPath: "/o/chat/completions", wantAuth: "Bearer from-env",
			providers: map[string]any{"o": map[string]any{"baseUrl": url + "/o", "api": "openai-completions", "models": []any{modelEntry("m", false)},
				"apiKey": map[string]any{"source": "env", "provider": "default", "id": "STANDIN_TEST_PROVIDER_KEY"}, "headers": map[string]any{"X-Extra": "1"}}}},
		{name: "switched to anthropic", chain: []string{"a/claude-sonnet-4-5"}, wantReply: "Hello from upstream", wantPath: "/a/v1/messages",
			providers: map[string]any{
				"o": provider(url+"/o", "openai-completions", "k", modelEntry("m", false)),
				"a": provider(url+"/a", "anthropic-messages", "ka", modelEntry("claude-sonnet-4-5", false)),
			}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			writeModelsConfig(t, g, st.providers, st.chain...)
			before := len(fp.Calls())
			code, c := chat(t, g, "openclaw")
			if code != 200 || len(c.Choices) != 1 || c.Choices[0].Message.Content != st.wantReply {
				t.Fatalf("answer %d %+v, want %q", code, c, st.wantReply)
			}
			calls := fp.Calls()[before:]
			if st.wantPath == "" {
				if len(calls) != 0 {
					t.Fatalf("echo called the provider: %+v", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0].Path != st.wantPath {
				t.Fatalf("calls %+v, want one to %s", calls, st.wantPath)
			}
			if st.wantAuth != "" && calls[0].Header.Get("Authorization") != st.wantAuth {
				t.Errorf("Authorization %q, want %q", calls[0].Header.Get("Authorization"), st.wantAuth)
			}
		})
	}

	// The rest of the config still reads with the models section in it.
	if rec := do(g, "GET", "/__standin", "", ""); !strings.Contains(rec.Body.String(), `"modelPrimary":"a/claude-sonnet-4-5"`) ||
		strings.Contains(rec.Body.String(), "configError") {
		t.Errorf("/__standin: %s", rec.Body)
	}
}
