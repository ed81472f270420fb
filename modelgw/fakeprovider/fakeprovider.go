// Package fakeprovider is an in-repo stand-in for OpenAI's and Anthropic's
// model APIs, which cannot be reached from where clawd is built and tested.
// It speaks their wire shapes (chat completions, responses, messages;
// whole replies and server-sent event streams with the providers' real
// event names), checks the API key, and reports deterministic token counts
// so a test can compare what the model gateway counted with what the
// provider said.
//
// Endpoints: POST /v1/chat/completions, POST /v1/responses, POST
// /v1/messages. An OpenAI-shaped provider's base URL is <fake>/v1, an
// Anthropic one's is <fake> (the Anthropic SDK appends /v1/messages).
//
// Behaviour is picked by the model name, so a test can choose it through
// an unmodified client (the name only has to contain the marker):
//
//	fake-error-NNN  answer status NNN with an error body in the API's shape
//	fake-no-usage   report no usage, in whole replies and streams
//	fake-slow       wait SlowDelay (or ChunkDelay if longer) between events
//	fake-cache      (Anthropic) report part of the input as cached
//
// Token counts: input is the number of whitespace-separated words in the
// request's text (messages' content and text parts, input, instructions,
// system) plus Overhead; output is the number of words in the reply. A
// stream sends one word per delta.
package fakeprovider

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReply is the assistant's text unless Options.Reply says otherwise.
const DefaultReply = "Hello from the fake provider."

// Overhead is added to every request's input count, as real providers
// count their message framing.
const Overhead = 3

// SlowDelay is the least delay between events for a fake-slow model.
const SlowDelay = 100 * time.Millisecond

// Options configure a Provider.
type Options struct {
	// APIKey is the key a request must carry (Authorization: Bearer for
	// OpenAI's endpoints, x-api-key for Anthropic's); without it, or with
	// another, the answer is 401 in the provider's shape. Empty accepts
	// any key (for manual demos only).
	APIKey string
	// Reply is the assistant's text (default DefaultReply).
	Reply string
	// ChunkDelay is the delay between streamed events; a whole reply
	// waits it once per word, as a model generating it would.
	ChunkDelay time.Duration
	// KeepCalls bounds the calls Calls returns to the last KeepCalls (0
	// keeps all), for benchmarks and long demos; Totals counts all.
	KeepCalls int
}

// Call is one request the provider served, in the order they finished.
type Call struct {
	Path   string
	Model  string
	Stream bool
	// Status is what the provider answered.
	Status int
	// InputTokens and OutputTokens are what it reported in usage: zero
	// when it reported none (an error, fake-no-usage, a chat stream that
	// did not ask for usage, a stream the client left early).
	InputTokens, OutputTokens int64
	Header                    http.Header
	Body                      []byte
}

// Provider is the fake provider, an http.Handler.
type Provider struct {
	opts  Options
	words []string // Reply, split into the chunks a stream sends
	seq   atomic.Int64

	mu      sync.Mutex
	calls   []Call
	in, out int64 // reported over all calls
}

var _ http.Handler = (*Provider)(nil)

// New returns a Provider.
func New(opts Options) *Provider {
	if opts.Reply == "" {
		opts.Reply = DefaultReply
	}
	p := &Provider{opts: opts}
	// " from", " the": each chunk carries its leading space, so the
	// chunks concatenate to Reply and count one word each.
	for i, w := range strings.Fields(opts.Reply) {
		if i > 0 {
			w = " " + w
		}
		p.words = append(p.words, w)
	}
	return p
}

// Calls returns what the provider served so far, in order.
func (p *Provider) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// Totals returns the input and output tokens reported over all calls.
func (p *Provider) Totals() (in, out int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.in, p.out
}

func (p *Provider) record(c Call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.in += c.InputTokens
	p.out += c.OutputTokens
	if k := p.opts.KeepCalls; k > 0 && len(p.calls) >= k {
		p.calls = append(p.calls[:0], p.calls[len(p.calls)-k+1:]...)
	}
	p.calls = append(p.calls, c)
}

// api is an endpoint's shape.
type api int

const (
	chat api = iota
	responses
	messages
)

// request is what the fake reads of a call.
type request struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages     any `json:"messages"`
	Input        any `json:"input"`
	Instructions any `json:"instructions"`
	System       any `json:"system"`
}

var errorModel = regexp.MustCompile(`fake-error-(\d{3})`)

// ServeHTTP answers one call.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var kind api
	switch r.URL.Path {
	case "/v1/chat/completions":
		kind = chat
	case "/v1/responses":
		kind = responses
	case "/v1/messages":
		kind = messages
	default:
		writeError(w, r.URL.Path == "/v1/messages", http.StatusNotFound, "no such endpoint: "+r.URL.Path)
		return
	}
	anthropic := kind == messages
	call := Call{Path: r.URL.Path, Header: r.Header.Clone()}
	// The call is recorded just before its last bytes go out: a client
	// that has read the whole reply finds it in Calls.
	recorded := false
	done := func() {
		if !recorded {
			recorded = true
			p.record(call)
		}
	}
	defer done()

	if r.Method != http.MethodPost {
		call.Status = http.StatusMethodNotAllowed
		writeError(w, anthropic, call.Status, "method not allowed: "+r.Method)
		return
	}
	var err error
	call.Body, err = io.ReadAll(r.Body)
	if err != nil {
		call.Status = http.StatusBadRequest
		writeError(w, anthropic, call.Status, "reading body: "+err.Error())
		return
	}
	if !p.authorized(r.Header, anthropic) {
		call.Status = http.StatusUnauthorized
		writeError(w, anthropic, call.Status, "invalid api key")
		return
	}
	if anthropic && r.Header.Get("Anthropic-Version") == "" {
		call.Status = http.StatusBadRequest
		writeError(w, anthropic, call.Status, "anthropic-version: header is required")
		return
	}
	var req request
	if err := json.Unmarshal(call.Body, &req); err != nil {
		call.Status = http.StatusBadRequest
		writeError(w, anthropic, call.Status, "body is not JSON: "+err.Error())
		return
	}
	call.Model, call.Stream = req.Model, req.Stream
	if req.Model == "" {
		call.Status = http.StatusBadRequest
		writeError(w, anthropic, call.Status, "model: field required")
		return
	}
	if m := errorModel.FindStringSubmatch(req.Model); m != nil {
		call.Status, _ = strconv.Atoi(m[1])
		if call.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, anthropic, call.Status, fmt.Sprintf("fake provider error %d", call.Status))
		return
	}

	t := &turn{
		p: p, w: w, r: r, req: &req, call: &call,
		id:      p.seq.Add(1),
		in:      countInput(&req) + Overhead,
		out:     int64(len(p.words)),
		usage:   !strings.Contains(req.Model, "fake-no-usage"),
		cache:   strings.Contains(req.Model, "fake-cache"),
		created: time.Now().Unix(),
		delay:   p.opts.ChunkDelay,
		done:    done,
	}
	if strings.Contains(req.Model, "fake-slow") {
		t.delay = max(t.delay, SlowDelay)
	}
	call.Status = http.StatusOK
	if req.Stream {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		t.flush()
		switch kind {
		case chat:
			t.chatStream()
		case responses:
			t.responsesStream()
		case messages:
			t.messagesStream()
		}
		return
	}
	for range p.words {
		t.sleep()
	}
	var body any
	switch kind {
	case chat:
		body = t.chatReply()
	case responses:
		body = t.responsesReply()
	case messages:
		body = t.messagesReply()
	}
	if t.usage {
		call.InputTokens, call.OutputTokens = t.in, t.out
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	done()
	_, _ = w.Write(b)
}

func (p *Provider) authorized(h http.Header, anthropic bool) bool {
	if p.opts.APIKey == "" {
		return true
	}
	if anthropic {
		return h.Get("X-Api-Key") == p.opts.APIKey
	}
	return h.Get("Authorization") == "Bearer "+p.opts.APIKey
}

// countInput counts the words of the request's text.
func countInput(req *request) int64 {
	var n int64
	for _, v := range []any{req.Messages, req.Input, req.Instructions, req.System} {
		n += words(v, "content")
	}
	return n
}

// words counts the words of the strings in v that are text: v itself when
// it is a string under a text key, and such strings nested in it.
func words(v any, key string) int64 {
	switch v := v.(type) {
	case string:
		switch key {
		case "content", "text", "input", "instructions", "system":
			return int64(len(strings.Fields(v)))
		}
	case []any:
		var n int64
		for _, e := range v {
			n += words(e, key)
		}
		return n
	case map[string]any:
		var n int64
		for k, e := range v {
			n += words(e, k)
		}
		return n
	}
	return 0
}

// writeError answers in the provider's error shape.
func writeError(w http.ResponseWriter, anthropic bool, status int, msg string) {
	var body any
	if anthropic {
		typ := map[int]string{
			400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
			404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
			500: "api_error", 529: "overloaded_error",
		}[status]
		if typ == "" {
			typ = "api_error"
		}
		body = map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}}
	} else {
		typ, code := "invalid_request_error", any(nil)
		switch {
		case status == 401:
			code = "invalid_api_key"
		case status == 429:
			typ, code = "rate_limit_error", "rate_limit_exceeded"
		case status >= 500:
			typ = "server_error"
		}
		body = map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}}
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Reset forgets the calls served so far and zeroes Totals.
func (p *Provider) Reset() {
	p.mu.Lock()
	p.calls, p.in, p.out = nil, 0, 0
	p.mu.Unlock()
}
