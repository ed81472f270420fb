package modelgw

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawd-dev/clawd/modelgw/fakeprovider"
)

const (
	realKey  = "sk-real-provider-key"
	nsToken  = "ns-token-alpha"
	nsName   = "alpha"
	model    = "fake-model"
	system   = "You are terse."
	question = "Say hello to the gateway"
	// wantIn and wantOut are what the fake reports for the bodies below:
	// 3 + 5 words plus its overhead, and the words of its default reply.
	wantIn  = 3 + 5 + fakeprovider.Overhead
	wantOut = 5
)

// The models every test provider offers: one per fake mode.
var testModels = []string{model, "fake-no-usage", "fake-error-429", "fake-error-500", "fake-slow", "fake-cache"}

var (
	_ Providers     = providerMap(nil)
	_ Authenticator = (*tokenAuth)(nil)
	_ Sink          = chanSink(nil)
)

// providerMap is a Providers from a map.
type providerMap map[string]Upstream

func (p providerMap) Provider(name string) (Upstream, bool) {
	u, ok := p[name]
	return u, ok
}

// tokenAuth maps tokens to namespaces and notes the addresses it saw.
type tokenAuth struct {
	tokens map[string]string
	mu     sync.Mutex
	seen   []netip.Addr
}

func (a *tokenAuth) Authenticate(token string, remote netip.Addr) (string, bool) {
	a.mu.Lock()
	a.seen = append(a.seen, remote)
	a.mu.Unlock()
	ns, ok := a.tokens[token]
	return ns, ok
}

// chanSink hands each Usage to the test.
type chanSink chan Usage

func (s chanSink) Record(u Usage) { s <- u }

// env is a gateway in front of a fake provider, both on httptest servers.
type env struct {
	fake    *fakeprovider.Provider
	fakeURL string
	gw      *Gateway
	gwURL   string
	usage   chanSink
	reg     *prometheus.Registry
	auth    *tokenAuth
	// downURL refuses connections: nothing listens there.
	downURL string
}

type envOptions struct {
	fake      fakeprovider.Options
	linger    time.Duration
	wrapFake  func(http.Handler) http.Handler // e.g. to gate its events
	transport http.RoundTripper
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.fake.APIKey == "" {
		o.fake.APIKey = realKey
	}
	e := &env{fake: fakeprovider.New(o.fake), usage: make(chanSink, 64), reg: prometheus.NewRegistry()}
	var h http.Handler = e.fake
	if o.wrapFake != nil {
		h = o.wrapFake(h)
	}
	fs := httptest.NewServer(h)
	t.Cleanup(fs.Close)
	e.fakeURL = fs.URL

	// A port that was just free: connections to it are refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.downURL = "http://" + l.Addr().String()
	l.Close()

	e.auth = &tokenAuth{tokens: map[string]string{nsToken: nsName}}
	e.gw = New(Config{
		Providers: providerMap{
			"openai":        {Name: "openai", API: OpenAICompletions, BaseURL: fs.URL + "/v1", APIKey: realKey, Models: testModels},
			"openai-resp":   {Name: "openai-resp", API: OpenAIResponses, BaseURL: fs.URL + "/v1/", APIKey: realKey, Models: testModels},
			"anthropic":     {Name: "anthropic", API: AnthropicMessages, BaseURL: fs.URL, APIKey: realKey, Models: testModels},
			"down":          {Name: "down", API: OpenAICompletions, BaseURL: e.downURL + "/v1", APIKey: realKey, Models: testModels},
			"down-claude":   {Name: "down-claude", API: AnthropicMessages, BaseURL: e.downURL, APIKey: realKey, Models: testModels},
			"not-forwarded": {Name: "not-forwarded", API: "ollama", BaseURL: fs.URL, APIKey: realKey, Models: testModels},
		},
		Auth:       e.auth,
		Sinks:      []Sink{e.usage},
		Registerer: e.reg,
		Linger:     o.linger,
		Transport:  o.transport,
		Logger:     hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: testWriter{t}}),
	})
	gs := httptest.NewServer(e.gw)
	t.Cleanup(gs.Close)
	e.gwURL = gs.URL
	return e
}

// testWriter sends logs to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// shape is one of the three APIs as a test calls it.
type shape struct {
	api      API
	provider string
	path     string // below the provider
}

var shapes = []shape{
	{OpenAICompletions, "openai", "chat/completions"},
	{OpenAIResponses, "openai-resp", "responses"},
	{AnthropicMessages, "anthropic", "v1/messages"},
}

// body is a request of the shape's kind, with the same text in each.
func (s shape) body(model string, stream bool) []byte {
	var v map[string]any
	switch s.api {
	case OpenAICompletions:
		v = map[string]any{"messages": []any{
			map[string]any{"role": "system", "content": system},
			map[string]any{"role": "user", "content": question},
		}}
	case OpenAIResponses:
		v = map[string]any{"instructions": system, "input": []any{
			map[string]any{"role": "user", "content": []any{map[string]any{"type": "input_text", "text": question}}},
		}}
	case AnthropicMessages:
		v = map[string]any{"max_tokens": 64, "system": system, "messages": []any{
			map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": question}}},
		}}
	}
	v["model"] = model
	if stream {
		v["stream"] = true
	}
	b, _ := json.Marshal(v)
	return b
}

// request builds a call through the gateway at base with the namespace
// token as the shape's SDK sends it (token "" sends none).
func (s shape) request(t testing.TB, base, token string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/"+s.provider+"/"+s.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		if s.api == AnthropicMessages {
			req.Header.Set("X-Api-Key", token)
		} else {
			req.Header.Set("Authorization", "Bearer "+token)
		}
	}
	return req
}

// direct builds the same call straight to the fake provider at base, with
// the real key.
func (s shape) direct(t testing.TB, base string, body []byte) *http.Request {
	t.Helper()
	req := s.request(t, base, realKey, body)
	req.URL.Path = "/v1/" + strings.TrimPrefix(s.path, "v1/")
	if s.api == AnthropicMessages {
		req.Header.Set("Anthropic-Version", "2023-06-01")
	}
	return req
}

func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// waitUsage returns the next Usage a sink got. The deadline only keeps a
// broken gateway from hanging the test; nothing is timed.
func (e *env) waitUsage(t testing.TB) Usage {
	t.Helper()
	select {
	case u := <-e.usage:
		return u
	case <-time.After(20 * time.Second):
		t.Fatal("no usage recorded")
		return Usage{}
	}
}

// noUsage checks that no Usage was recorded (after the response was read,
// the handler has returned for refusals written before finish).
func (e *env) noUsage(t testing.TB) {
	t.Helper()
	select {
	case u := <-e.usage:
		t.Fatalf("unexpected usage %+v", u)
	default:
	}
}

// events splits an SSE body into its events' data.
func events(t testing.TB, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// lastCall is the fake's last call.
func (e *env) lastCall(t testing.TB) fakeprovider.Call {
	t.Helper()
	calls := e.fake.Calls()
	if len(calls) == 0 {
		t.Fatal("the fake provider saw no call")
	}
	return calls[len(calls)-1]
}
