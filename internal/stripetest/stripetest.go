// Package stripetest puts a recording proxy in front of stripe-mock for the
// billing tests: stripe-mock checks each request against Stripe's OpenAPI
// (and keeps no state), the recording shows what clawd sent, in order, so
// stateful flows and "nothing was sent" can be asserted.
package stripetest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/internal/testenv"
)

// Env names stripe-mock's base URL (scripts/stripe-mock.sh starts it; the
// Makefile exports it).
const Env = "CLAWD_TEST_STRIPE_MOCK"

// Request is one request clawd sent to Stripe.
type Request struct {
	Method, Path   string
	Form           url.Values // the form body, or the query of a GET
	IdempotencyKey string
	Status         int // what the client got back
}

// Proxy records requests and forwards them to stripe-mock.
type Proxy struct {
	URL string

	mu   sync.Mutex
	reqs []Request
	// fail, when set, answers a request itself with the status it returns
	// (0: forward it).
	fail func(Request) int
}

// Start returns a recording proxy in front of stripe-mock, or skips t
// (fails it in CI) when stripe-mock is not there.
func Start(t testing.TB) *Proxy {
	t.Helper()
	base := os.Getenv(Env)
	if base == "" {
		testenv.Missing(t, "%s is not set: run `bash scripts/stripe-mock.sh` and export %s=http://127.0.0.1:12111", Env, Env)
	}
	target, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s=%q: %v", Env, base, err)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/balance", nil)
	req.SetBasicAuth("sk_test_123", "")
	resp, err := c.Do(req)
	if err != nil {
		testenv.Missing(t, "stripe-mock at %s does not answer: %v", base, err)
	} else {
		resp.Body.Close()
	}
	p := &Proxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key")}
		if r.Method == http.MethodGet || r.Method == http.MethodDelete {
			rec.Form = r.URL.Query()
		} else {
			rec.Form, _ = url.ParseQuery(string(body))
		}
		p.mu.Lock()
		fail := p.fail
		p.mu.Unlock()
		if fail != nil {
			if code := fail(rec); code != 0 {
				rec.Status = code
				p.add(rec)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				io.WriteString(w, `{"error":{"type":"api_error","message":"injected failure"}}`)
				return
			}
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		rp.ServeHTTP(sw, r)
		rec.Status = sw.code
		p.add(rec)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) { s.code = code; s.ResponseWriter.WriteHeader(code) }

func (p *Proxy) add(r Request) {
	p.mu.Lock()
	p.reqs = append(p.reqs, r)
	p.mu.Unlock()
}

// Fail makes the proxy answer requests fn picks with fn's status instead
// of forwarding them; nil forwards everything again.
func (p *Proxy) Fail(fn func(Request) int) {
	p.mu.Lock()
	p.fail = fn
	p.mu.Unlock()
}

// Requests returns what was sent so far.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.reqs...)
}

// Reset forgets what was recorded.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.reqs = nil
	p.mu.Unlock()
}

// Calls lists the requests as "METHOD /path" lines.
func (p *Proxy) Calls() []string {
	var out []string
	for _, r := range p.Requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// Find returns the requests to method and a path with prefix.
func (p *Proxy) Find(method, prefix string) []Request {
	var out []Request
	for _, r := range p.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}
