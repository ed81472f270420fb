package router

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/apikey"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// parseHead reads a request head as the router's server would, or reports
// that the server would refuse it.
func parseHead(host, xkey, auth, cookie string) (*fasthttp.Request, bool) {
	var b strings.Builder
	b.WriteString("GET /p HTTP/1.1\r\nHost: " + host + "\r\n")
	if xkey != "" {
		b.WriteString("X-API-Key: " + xkey + "\r\n")
	}
	if auth != "" {
		b.WriteString("Authorization: " + auth + "\r\n")
	}
	if cookie != "" {
		b.WriteString("Cookie: " + cookie + "\r\n")
	}
	b.WriteString("\r\n")
	req := new(fasthttp.Request)
	if err := req.Read(bufio.NewReader(strings.NewReader(b.String()))); err != nil {
		return nil, false
	}
	return req, true
}

// FuzzRequestHead feeds the router heads with hostile Host, X-API-Key,
// Authorization and login cookie fields. Whatever they hold: nothing
// panics, no clawd key survives the strip that precedes forwarding, and a
// request reaches a namespace only through its hostname or its own key.
func FuzzRequestHead(f *testing.F) {
	keyA, secretA, err := apikey.New("a", "", "", 0, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	r := New(nil)
	r.auth.apply(store.APIKeyEvent{Type: store.EventReset, Snapshot: []apikey.Key{keyA}})
	r.auth.rebuild(r.log)
	rec := &recorder{}
	r.Observe(rec)
	names := map[string]namespace.Namespace{
		"a": nsAt("a", namespace.PhaseStopped, "", "a.example"),
		"b": nsAt("b", namespace.PhaseStopped, "", "b.example"),
	}
	r.names = names
	r.rebuild()

	f.Add("a.example", "", "", "")
	f.Add("B.Example.:8080", "", "", "")
	f.Add("[::1]:80", secretA, "", "")
	f.Add("b.example", "", "Bearer "+secretA, "")
	f.Add("10.0.0.1", "", "bEaReR  "+secretA+" ", "clawd_key="+secretA)
	f.Add("a.example", secretA+"x", "Bearer sk-other", "")
	f.Add("a.example", "\r\nX-API-Key: "+secretA, "", "")
	f.Add("a.example", "", "", "clawd_key=; clawd_key="+secretA)
	f.Add("x", "", "Basic Zm9vOmJhcg==", "clawd_key="+secretA+"; other=1")
	f.Fuzz(func(t *testing.T, host, xkey, auth, cookie string) {
		req, ok := parseHead(host, xkey, auth, cookie)
		if !ok {
			return
		}
		routed := string(routeHost(req.URI().Host()))
		if strings.HasSuffix(routed, ".") {
			t.Fatalf("host %q routes as %q, trailing dot kept", host, routed)
		}
		key, _, keyErr := presentedKey(&req.Header)

		stripped := new(fasthttp.Request)
		req.CopyTo(stripped)
		stripKeys(&stripped.Header)
		if k, found, err := presentedKey(&stripped.Header); (found && k != "") || err != nil || strings.Contains(stripped.Header.String(), secretA) {
			t.Fatalf("key %q (%v) left for the gateway in %q", k, err, stripped.Header.String())
		}

		var ctx fasthttp.RequestCtx
		ctx.Init(req, nil, nil)
		r.Handle(&ctx)
		reqs, _ := rec.snapshot()
		rec.mu.Lock()
		rec.reqs = rec.reqs[:0]
		rec.mu.Unlock()
		if len(reqs) != 1 {
			t.Fatalf("%d observations of one request", len(reqs))
		}
		got := reqs[0]
		switch got.Namespace {
		case "":
			if got.Status == fasthttp.StatusServiceUnavailable {
				t.Fatalf("503 without a namespace for host %q", host)
			}
		case "a":
			if routed != "a.example" && (keyErr != nil || key != secretA) {
				t.Fatalf("reached a through host %q (routed %q) and key %q", host, routed, key)
			}
		case "b":
			if routed != "b.example" || key == secretA {
				t.Fatalf("reached b through host %q (routed %q) and key %q", host, routed, key)
			}
		default:
			t.Fatalf("routed to unknown namespace %q", got.Namespace)
		}
	})
}
