package modelgw

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clawd-dev/clawd/modelgw/fakeprovider"
)

// Every shape, streamed and not: the gateway counts what the provider
// reported, the client gets the reply, the provider sees the real key.
func TestCounts(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, s := range shapes {
		for _, stream := range []bool{false, true} {
			for _, m := range []string{model, "fake-cache"} {
				if m == "fake-cache" && s.api != AnthropicMessages {
					continue
				}
				t.Run(string(s.api)+"/"+streamName(stream)+"/"+m, func(t *testing.T) {
					resp, body := do(t, s.request(t, e.gwURL, nsToken, s.body(m, stream)))
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("status %d: %s", resp.StatusCode, body)
					}
					if got := replyText(t, s.api, stream, body); got != fakeprovider.DefaultReply {
						t.Fatalf("reply %q, want %q", got, fakeprovider.DefaultReply)
					}
					u := e.waitUsage(t)
					call := e.lastCall(t)
					if call.InputTokens != wantIn || call.OutputTokens != wantOut {
						t.Fatalf("the fake reported %d/%d, want %d/%d", call.InputTokens, call.OutputTokens, wantIn, wantOut)
					}
					if u.InputTokens != call.InputTokens || u.OutputTokens != call.OutputTokens || u.Estimated {
						t.Fatalf("counted %d/%d (estimated %v), the fake reported %d/%d",
							u.InputTokens, u.OutputTokens, u.Estimated, call.InputTokens, call.OutputTokens)
					}
					if u.Namespace != nsName || u.Provider != s.provider || u.Model != m || u.API != s.api ||
						u.Stream != stream || u.Status != http.StatusOK || len(u.ID) != 32 || u.Time.IsZero() || u.Duration <= 0 {
						t.Fatalf("usage %+v", u)
					}
					if call.Path != "/v1/"+strings.TrimPrefix(s.path, "v1/") {
						t.Fatalf("the fake was called on %s", call.Path)
					}
				})
			}
		}
	}
}

func streamName(stream bool) string {
	if stream {
		return "stream"
	}
	return "whole"
}

// replyText reassembles the assistant's text from a reply as a client
// would, so a test sees the gateway passed a usable reply.
func replyText(t *testing.T, api API, stream bool, body []byte) string {
	t.Helper()
	var sb strings.Builder
	if !stream {
		var r struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
			Output []struct {
				Content []struct{ Text string } `json:"content"`
			} `json:"output"`
			Content []struct{ Text string } `json:"content"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("reply %s: %v", body, err)
		}
		for _, c := range r.Choices {
			sb.WriteString(c.Message.Content)
		}
		for _, o := range r.Output {
			for _, c := range o.Content {
				sb.WriteString(c.Text)
			}
		}
		for _, c := range r.Content {
			sb.WriteString(c.Text)
		}
		return sb.String()
	}
	for _, d := range events(t, body) {
		if d == "[DONE]" {
			continue
		}
		var ev struct {
			Type    string `json:"type"`
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
			Delta json.RawMessage `json:"delta"`
		}
		if err := json.Unmarshal([]byte(d), &ev); err != nil {
			t.Fatalf("event %s: %v", d, err)
		}
		for _, c := range ev.Choices {
			sb.WriteString(c.Delta.Content)
		}
		switch ev.Type {
		case "response.output_text.delta":
			var s string
			_ = json.Unmarshal(ev.Delta, &s)
			sb.WriteString(s)
		case "content_block_delta":
			var d struct{ Text string }
			_ = json.Unmarshal(ev.Delta, &d)
			sb.WriteString(d.Text)
		}
	}
	return sb.String()
}

// The usage chunk the gateway asks for on the client's behalf is not
// passed on; one the client asked for is.
func TestIncludeUsageChunk(t *testing.T) {
	e := newEnv(t, envOptions{})
	s := shapes[0]
	cases := []struct {
		name          string
		streamOptions any // nil: absent
		clientSees    bool
	}{
		{"absent", nil, false},
		{"null", json.RawMessage("null"), false},
		{"false with other options", map[string]any{"include_usage": false, "other": 1}, false},
		{"asked", map[string]any{"include_usage": true}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v map[string]any
			_ = json.Unmarshal(s.body(model, true), &v)
			if tc.streamOptions != nil {
				v["stream_options"] = tc.streamOptions
			}
			reqBody, _ := json.Marshal(v)
			resp, body := do(t, s.request(t, e.gwURL, nsToken, reqBody))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if resp.Header.Get("Content-Length") != "" {
				t.Fatal("a stream the gateway may shorten kept the provider's Content-Length")
			}
			sawUsage := false
			for _, d := range events(t, body) {
				if strings.Contains(d, `"choices":[]`) && strings.Contains(d, `"usage":{`) {
					sawUsage = true
				}
			}
			if sawUsage != tc.clientSees {
				t.Fatalf("client saw the usage chunk: %v, want %v\n%s", sawUsage, tc.clientSees, body)
			}
			if !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
				t.Fatalf("stream does not end with [DONE]: %q", body)
			}
			// The provider was asked for usage either way, and the
			// client's other options were kept.
			var sent struct {
				StreamOptions map[string]any `json:"stream_options"`
			}
			if err := json.Unmarshal(e.lastCall(t).Body, &sent); err != nil {
				t.Fatal(err)
			}
			if sent.StreamOptions["include_usage"] != true {
				t.Fatalf("upstream stream_options %v", sent.StreamOptions)
			}
			if m, ok := tc.streamOptions.(map[string]any); ok && m["other"] != nil && sent.StreamOptions["other"] != float64(1) {
				t.Fatalf("the client's other stream options were lost: %v", sent.StreamOptions)
			}
			u := e.waitUsage(t)
			if u.InputTokens != wantIn || u.OutputTokens != wantOut || u.Estimated {
				t.Fatalf("usage %+v", u)
			}
		})
	}
}

// gate holds a stream's last event at the provider until released, so a
// test can see events reach the client while the provider is not done.
type gate struct {
	release chan struct{}
	once    sync.Once
	passed  atomic.Int32 // held events written
	// hold marks the events held: by default each shape's last.
	hold []string
}

func newGate() *gate {
	return &gate{release: make(chan struct{}), hold: []string{"[DONE]", "event: response.completed", "event: message_stop"}}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&gatedWriter{ResponseWriter: w, g: g}, r)
	})
}

type gatedWriter struct {
	http.ResponseWriter
	g *gate
}

// Write blocks the events the gate holds.
func (w *gatedWriter) Write(b []byte) (int, error) {
	for _, held := range w.g.hold {
		if bytes.Contains(b, []byte(held)) {
			<-w.g.release
			defer w.g.passed.Add(1)
		}
	}
	return w.ResponseWriter.Write(b)
}

func (w *gatedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Events reach the client while the provider is still writing: the first
// content event arrives before the provider sends its last one.
func TestStreamNotBuffered(t *testing.T) {
	for _, s := range shapes {
		t.Run(string(s.api), func(t *testing.T) {
			g := newGate()
			defer g.open()
			e := newEnv(t, envOptions{wrapFake: g.wrap})
			resp, err := http.DefaultClient.Do(s.request(t, e.gwURL, nsToken, s.body(model, true)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("stream ended before any content (%v)", err)
				}
				if strings.Contains(line, "Hello") {
					break // while the provider is held before its last event
				}
			}
			if n := g.passed.Load(); n != 0 {
				t.Fatalf("the provider wrote its last event before the client saw content")
			}
			g.open()
			if rest, _ := io.ReadAll(br); len(rest) == 0 {
				t.Fatal("nothing after the first content")
			}
			if u := e.waitUsage(t); u.OutputTokens != wantOut || u.Estimated {
				t.Fatalf("usage %+v", u)
			}
		})
	}
}

// A client that leaves mid-stream still has its call counted with the
// provider's own figures: the gateway keeps reading the provider.
func TestClientLeaves(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, s := range shapes {
		t.Run(string(s.api), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			req := s.request(t, e.gwURL, nsToken, s.body("fake-slow", true)).WithContext(ctx)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(resp.Body)
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			cancel() // leave after the first event; the fake has more
			resp.Body.Close()

			u := e.waitUsage(t)
			call := e.lastCall(t)
			if call.OutputTokens != wantOut || call.InputTokens != wantIn {
				t.Fatalf("the fake did not finish its stream: %+v", call)
			}
			if u.InputTokens != call.InputTokens || u.OutputTokens != call.OutputTokens || u.Estimated || u.Status != http.StatusOK {
				t.Fatalf("usage %+v, the fake reported %d/%d", u, call.InputTokens, call.OutputTokens)
			}
		})
	}
}

// The linger bounds how long a call outlives its client: a provider that
// never finishes is let go, and what it said is counted, the rest
// estimated. The provider here is held before the event with its (final)
// usage until the test ends, so only the linger can end the call.
func TestLingerBounded(t *testing.T) {
	for _, s := range shapes {
		t.Run(string(s.api), func(t *testing.T) {
			g := newGate()
			g.hold = []string{`"choices":[],"usage":{`, "event: response.completed", "event: message_delta"}
			defer g.open()
			e := newEnv(t, envOptions{wrapFake: g.wrap, linger: time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			resp, err := http.DefaultClient.Do(s.request(t, e.gwURL, nsToken, s.body(model, true)).WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			cancel()
			resp.Body.Close()
			u := e.waitUsage(t)
			if u.Status != http.StatusOK || !u.Estimated || u.OutputTokens == 0 {
				t.Fatalf("usage %+v", u)
			}
			// Anthropic said the input at the start.
			if s.api == AnthropicMessages && u.InputTokens != wantIn {
				t.Fatalf("input %d, message_start said %d", u.InputTokens, wantIn)
			}
		})
	}
}

// A provider that reports no usage has its counts estimated from the
// text: 38 bytes of prompt, 29 of reply, about four bytes a token.
func TestNoUsageEstimated(t *testing.T) {
	e := newEnv(t, envOptions{})
	const estIn, estOut = (38 + 3) / 4, (29 + 3) / 4
	for _, s := range shapes {
		for _, stream := range []bool{false, true} {
			t.Run(string(s.api)+"/"+streamName(stream), func(t *testing.T) {
				resp, body := do(t, s.request(t, e.gwURL, nsToken, s.body("fake-no-usage", stream)))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				u := e.waitUsage(t)
				if !u.Estimated || u.InputTokens != estIn || u.OutputTokens != estOut {
					t.Fatalf("usage %+v, want estimated %d/%d", u, estIn, estOut)
				}
			})
		}
	}
}

// A provider's error passes through as it was and is counted by status.
func TestUpstreamErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, s := range shapes {
		for _, code := range []int{429, 500} {
			for _, stream := range []bool{false, true} {
				m := "fake-error-" + itoa(code)
				t.Run(string(s.api)+"/"+m+"/"+streamName(stream), func(t *testing.T) {
					resp, body := do(t, s.request(t, e.gwURL, nsToken, s.body(m, stream)))
					if resp.StatusCode != code {
						t.Fatalf("status %d, want %d: %s", resp.StatusCode, code, body)
					}
					// Byte for byte what the fake wrote.
					_, directBody := do(t, s.direct(t, e.fakeURL, s.body(m, stream)))
					if !bytes.Equal(body, directBody) {
						t.Fatalf("body %s, the provider's %s", body, directBody)
					}
					if code == 429 && resp.Header.Get("Retry-After") != "1" {
						t.Fatal("Retry-After was not passed on")
					}
					u := e.waitUsage(t)
					if u.Status != code || u.InputTokens != 0 || u.OutputTokens != 0 || u.Estimated {
						t.Fatalf("usage %+v", u)
					}
				})
			}
		}
	}
	for _, code := range []string{"429", "500"} {
		if got := testutil.ToFloat64(e.gw.metrics.calls.WithLabelValues(nsName, "fake-error-"+code, code)); got != 6 {
			t.Fatalf("calls_total{code=%s} = %v, want 6", code, got)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A provider that cannot be reached is a 502 naming it, in its shape.
func TestUnreachable(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		s    shape
		base string
	}{
		{shape{OpenAICompletions, "down", "chat/completions"}, e.downURL + "/v1"},
		{shape{AnthropicMessages, "down-claude", "v1/messages"}, e.downURL},
	} {
		t.Run(tc.s.provider, func(t *testing.T) {
			resp, body := do(t, tc.s.request(t, e.gwURL, nsToken, tc.s.body(model, true)))
			if resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			msg := errorMessage(t, tc.s.api, body)
			want := `provider "` + tc.s.provider + `" (` + tc.base + `) cannot be reached: `
			if !strings.HasPrefix(msg, want) {
				t.Fatalf("message %q, want it to start %q", msg, want)
			}
			if strings.Contains(string(body), realKey) || strings.Contains(string(body), nsToken) {
				t.Fatalf("the error names a key: %s", body)
			}
			if u := e.waitUsage(t); u.Status != http.StatusBadGateway {
				t.Fatalf("usage %+v", u)
			}
		})
	}
}

// errorMessage parses an error body in the shape's form, failing the test
// if it is not.
func errorMessage(t *testing.T, api API, body []byte) string {
	t.Helper()
	if api == AnthropicMessages {
		var e anthropicError
		if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" || e.Error.Type == "" || e.Error.Message == "" {
			t.Fatalf("not an Anthropic error: %s", body)
		}
		return e.Error.Message
	}
	var e openAIError
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Type == "" || e.Error.Message == "" {
		t.Fatalf("not an OpenAI error: %s", body)
	}
	return e.Error.Message
}

// No token or a wrong one: 401 in the provider's shape, nothing forwarded,
// nothing counted.
func TestUnauthorized(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, s := range shapes {
		for _, token := range []string{"", "wrong-token"} {
			t.Run(string(s.api)+"/"+token, func(t *testing.T) {
				resp, body := do(t, s.request(t, e.gwURL, token, s.body(model, true)))
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				errorMessage(t, s.api, body)
				if s.api == AnthropicMessages {
					if !strings.Contains(string(body), `"authentication_error"`) {
						t.Fatalf("body %s", body)
					}
				} else if !strings.Contains(string(body), `"invalid_api_key"`) {
					t.Fatalf("body %s", body)
				}
			})
		}
	}
	if n := len(e.fake.Calls()); n != 0 {
		t.Fatalf("the provider saw %d calls", n)
	}
	e.noUsage(t)
	if n := testutil.CollectAndCount(e.gw.metrics.calls); n != 0 {
		t.Fatalf("%d call series for unauthenticated calls", n)
	}
	e.auth.mu.Lock()
	defer e.auth.mu.Unlock()
	for _, a := range e.auth.seen {
		if a != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("authenticator saw remote %v", a)
		}
	}
}

// A model the provider does not offer is refused, naming those it does.
func TestWrongModel(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, s := range shapes {
		t.Run(string(s.api), func(t *testing.T) {
			resp, body := do(t, s.request(t, e.gwURL, nsToken, s.body("gpt-expensive", false)))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			msg := errorMessage(t, s.api, body)
			if !strings.Contains(msg, `"gpt-expensive"`) || !strings.Contains(msg, strings.Join(testModels, ", ")) {
				t.Fatalf("message %q", msg)
			}
			u := e.waitUsage(t)
			if u.Status != http.StatusBadRequest || u.Model != "gpt-expensive" {
				t.Fatalf("usage %+v", u)
			}
		})
	}
	if n := len(e.fake.Calls()); n != 0 {
		t.Fatalf("the provider saw %d calls", n)
	}
	// The tenant's model name is no metric label.
	if got := testutil.ToFloat64(e.gw.metrics.calls.WithLabelValues(nsName, "", "400")); got != 3 {
		t.Fatalf("calls_total{model=\"\",code=400} = %v", got)
	}
}

// Bodies the gateway cannot read are refused before anything is forwarded.
func TestBadRequests(t *testing.T) {
	e := newEnv(t, envOptions{})
	s := shapes[0]
	for _, tc := range []struct {
		name string
		body string
		code int
	}{
		{"not json", `model=x`, 400},
		{"no model", `{"messages":[]}`, 400},
		{"model not a string", `{"model":1}`, 400},
		{"two models", `{"model":"fake-model","model":"gpt-expensive"}`, 400},
		{"escaped duplicate", `{"model":"fake-model","mo\u0064el":"gpt-expensive"}`, 400},
		{"trailing garbage", `{"model":"fake-model"} {}`, 400},
		{"too large", `{"model":"fake-model","x":"` + strings.Repeat("a", maxBody) + `"}`, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, s.request(t, e.gwURL, nsToken, []byte(tc.body)))
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			errorMessage(t, s.api, body)
			if u := e.waitUsage(t); u.Status != tc.code {
				t.Fatalf("usage %+v", u)
			}
		})
	}
	if n := len(e.fake.Calls()); n != 0 {
		t.Fatalf("the provider saw %d calls", n)
	}
}

// Paths: only the API's endpoint is forwarded, model lists are answered
// locally, the rest is 404 in the provider's shape.
func TestRouting(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		method, path string
		anthropic    bool
		code         int
	}{
		{"GET", "/openai/models", false, 200},
		{"GET", "/anthropic/v1/models", true, 200},
		{"POST", "/nobody/chat/completions", false, 404},
		{"POST", "/nobody/v1/messages", true, 404},
		{"POST", "/openai/responses", false, 404},
		{"POST", "/openai-resp/chat/completions", false, 404},
		{"GET", "/openai/chat/completions", false, 404},
		{"POST", "/anthropic/v1/messages/count_tokens", true, 404},
		{"POST", "/anthropic/chat/completions", true, 404},
		{"POST", "/not-forwarded/chat/completions", false, 404},
		{"GET", "/", false, 404},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.gwURL+tc.path, strings.NewReader(`{"model":"fake-model"}`))
			req.Header.Set("Authorization", "Bearer "+nsToken)
			resp, body := do(t, req)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			api := OpenAICompletions
			if tc.anthropic {
				api = AnthropicMessages
			}
			if tc.code != 200 {
				errorMessage(t, api, body)
			} else {
				var list struct {
					Object string
					Data   []struct{ ID, Object, Type string }
				}
				if err := json.Unmarshal(body, &list); err != nil || len(list.Data) != len(testModels) || list.Data[0].ID != model {
					t.Fatalf("list %s", body)
				}
				if tc.anthropic != (list.Data[0].Type == "model") || !tc.anthropic != (list.Object == "list") {
					t.Fatalf("list in the wrong shape: %s", body)
				}
			}
			if u := e.waitUsage(t); u.Status != tc.code {
				t.Fatalf("usage %+v", u)
			}
		})
	}
	if n := len(e.fake.Calls()); n != 0 {
		t.Fatalf("the provider saw %d calls", n)
	}
}

// What the provider sees: the real key, never the namespace token, nor
// the tenant's cookies or OpenAI organization; Anthropic's headers kept.
func TestUpstreamHeaders(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, s := range shapes {
		t.Run(string(s.api), func(t *testing.T) {
			req := s.request(t, e.gwURL, nsToken, s.body(model, true))
			req.Header.Set("Cookie", "session=tenant")
			req.Header.Set("OpenAI-Organization", "org-other")
			req.Header.Set("X-Custom", "kept")
			req.Header.Set("Connection", "X-Drop-Me")
			req.Header.Set("X-Drop-Me", "1")
			if s.api == AnthropicMessages {
				req.Header.Set("Anthropic-Beta", "tools-2024")
				// Both credentials: neither may reach the provider.
				req.Header.Set("Authorization", "Bearer "+nsToken)
			}
			resp, body := do(t, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			e.waitUsage(t)
			h := e.lastCall(t).Header
			for k, vv := range h {
				for _, v := range vv {
					if strings.Contains(v, nsToken) {
						t.Fatalf("the provider saw the namespace token in %s", k)
					}
				}
			}
			if bytes.Contains(e.lastCall(t).Body, []byte(nsToken)) {
				t.Fatal("the provider saw the namespace token in the body")
			}
			for _, k := range []string{"Cookie", "Openai-Organization", "X-Drop-Me"} {
				if h.Get(k) != "" {
					t.Fatalf("%s reached the provider", k)
				}
			}
			if h.Get("X-Custom") != "kept" {
				t.Fatal("X-Custom was dropped")
			}
			if s.api == AnthropicMessages {
				if h.Get("X-Api-Key") != realKey || h.Get("Authorization") != "" {
					t.Fatalf("credentials %q / %q", h.Get("X-Api-Key"), h.Get("Authorization"))
				}
				if h.Get("Anthropic-Version") != "2023-06-01" || h.Get("Anthropic-Beta") != "tools-2024" {
					t.Fatalf("anthropic headers %v", h)
				}
			} else if h.Get("Authorization") != "Bearer "+realKey {
				t.Fatalf("Authorization %q", h.Get("Authorization"))
			}
		})
	}
}

// The metric series: calls by code, tokens by direction; Forget drops a
// namespace's.
func TestMetrics(t *testing.T) {
	e := newEnv(t, envOptions{})
	s := shapes[2]
	for range 2 {
		do(t, s.request(t, e.gwURL, nsToken, s.body(model, true)))
		e.waitUsage(t)
	}
	do(t, s.request(t, e.gwURL, nsToken, s.body("fake-error-429", false)))
	e.waitUsage(t)

	want := `
# HELP clawd_model_calls_total Calls through the model gateway by namespace, model and the status returned to the client.
# TYPE clawd_model_calls_total counter
clawd_model_calls_total{code="200",model="fake-model",namespace="alpha"} 2
clawd_model_calls_total{code="429",model="fake-error-429",namespace="alpha"} 1
# HELP clawd_model_tokens_total Tokens through the model gateway by namespace, model and direction (input or output), as the provider reported them or estimated.
# TYPE clawd_model_tokens_total counter
clawd_model_tokens_total{direction="input",model="fake-error-429",namespace="alpha"} 0
clawd_model_tokens_total{direction="input",model="fake-model",namespace="alpha"} ` + itoa(2*wantIn) + `
clawd_model_tokens_total{direction="output",model="fake-error-429",namespace="alpha"} 0
clawd_model_tokens_total{direction="output",model="fake-model",namespace="alpha"} ` + itoa(2*wantOut) + `
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "clawd_model_calls_total", "clawd_model_tokens_total"); err != nil {
		t.Fatal(err)
	}
	e.gw.Forget(nsName)
	if n := testutil.CollectAndCount(e.gw.metrics.calls) + testutil.CollectAndCount(e.gw.metrics.tokens); n != 0 {
		t.Fatalf("%d series left after Forget", n)
	}
	// A second gateway on the same registry shares the collectors.
	_ = New(Config{Providers: providerMap{}, Auth: e.auth, Registerer: e.reg})
}
