package router

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/openclawcfg"
	"github.com/clawd-dev/clawd/problem"
	"github.com/clawd-dev/clawd/store"
)

// hostWatcher feeds the router's namespace table from a channel the test
// writes to, and an empty key table so the router becomes ready.
type hostWatcher struct {
	Watcher
	ns chan store.Event
}

var _ Watcher = (*hostWatcher)(nil)

func (w *hostWatcher) WatchNamespaces(context.Context) <-chan store.Event { return w.ns }

func (w *hostWatcher) WatchAPIKeys(ctx context.Context) <-chan store.APIKeyEvent {
	ch := make(chan store.APIKeyEvent, 1)
	ch <- store.APIKeyEvent{Type: store.EventReset}
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

func (w *hostWatcher) WatchConfig(ctx context.Context) <-chan map[string]string {
	return openConfig(ctx)
}

// openConfig is the dynamic config of the fixtures that do not test keys,
// given explicitly: no namespace requires one.
func openConfig(ctx context.Context) <-chan map[string]string {
	ch := make(chan map[string]string, 1)
	ch <- map[string]string{"namespaces.*.auth.requireKey": "false"}
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

// seen is what a backend saw of a request, sent back as its reply.
type seen struct {
	Backend        string `json:"backend"`
	Host           string `json:"host"`
	Path           string `json:"path"`
	XForwardedFor  string `json:"xForwardedFor"`
	XForwardedHost string `json:"xForwardedHost"`
	XForwardedProt string `json:"xForwardedProto"`
}

// backend is a gateway that answers with its own name and what it saw.
func backend(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Backend: name, Host: r.Host, Path: r.URL.Path,
			XForwardedFor: strings.Join(r.Header.Values("X-Forwarded-For"), ","), XForwardedHost: r.Header.Get("X-Forwarded-Host"),
			XForwardedProt: r.Header.Get("X-Forwarded-Proto")})
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func nsAt(name string, phase namespace.Phase, addr string, hosts ...string) namespace.Namespace {
	return namespace.Namespace{
		Spec:   namespace.Spec{Name: name, Hostnames: hosts},
		Status: namespace.Status{Phase: phase, Address: addr},
	}
}

// hostFixture is a router behind a real HTTP server, fed namespaces a and b
// (Running, one backend each), c (Starting) and d (Paused).
type hostFixture struct {
	w     *hostWatcher
	url   string // the router's http://host:port
	addrA string
	addrB string
}

func newHostFixture(t *testing.T) *hostFixture {
	t.Helper()
	f := &hostFixture{w: &hostWatcher{ns: make(chan store.Event, 16)}, addrA: backend(t, "a"), addrB: backend(t, "b")}
	f.w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{
		nsAt("a", namespace.PhaseRunning, f.addrA, "a.example"),
		nsAt("b", namespace.PhaseRunning, f.addrB, "b.example", "www.b.example"),
		nsAt("c", namespace.PhaseStarting, "", "c.example"),
		nsAt("d", namespace.PhasePaused, "10.0.0.4:18789", "d.example"),
	}}
	r := New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, f.w); close(done) }()
	t.Cleanup(func() {
		cancel()
		close(f.w.ns)
		<-done
	})
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("router never became ready")
	}
	f.url = serveRouter(t, r, Limits{})
	return f
}

// get sends GET path with the given Host through the router.
func (f *hostFixture) get(t *testing.T, host, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func decodeSeen(t *testing.T, body []byte) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("reply %q is not a backend's: %v", body, err)
	}
	return s
}

func TestHostRouting(t *testing.T) {
	f := newHostFixture(t)
	tests := []struct {
		host        string
		wantStatus  int
		wantBackend string // for 200
		wantNS      string // for problems naming a namespace
	}{
		{host: "a.example", wantStatus: 200, wantBackend: "a"},
		{host: "b.example", wantStatus: 200, wantBackend: "b"},
		{host: "www.b.example", wantStatus: 200, wantBackend: "b"},
		{host: "a.example:8080", wantStatus: 200, wantBackend: "a"},
		{host: "A.Example", wantStatus: 200, wantBackend: "a"},
		{host: "B.EXAMPLE:443", wantStatus: 200, wantBackend: "b"},
		{host: "a.example.", wantStatus: 200, wantBackend: "a"},
		{host: "unknown.example", wantStatus: 404},
		{host: "example", wantStatus: 404},
		{host: "a.example.evil", wantStatus: 404},
		{host: "c.example", wantStatus: 503, wantNS: "c"},
		{host: "d.example", wantStatus: 503, wantNS: "d"},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			resp, body := f.get(t, tc.host, "/v1/chat")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantStatus == 200 {
				if s := decodeSeen(t, body); s.Backend != tc.wantBackend || s.Path != "/v1/chat" {
					t.Errorf("reached %s%s, want %s/v1/chat", s.Backend, s.Path, tc.wantBackend)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			var p problem.Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("problem body %q: %v", body, err)
			}
			if p.Status != tc.wantStatus || p.Namespace != tc.wantNS {
				t.Errorf("problem %+v, want status %d namespace %q", p, tc.wantStatus, tc.wantNS)
			}
			if tc.wantStatus == 503 {
				if ra := resp.Header.Get("Retry-After"); ra == "" {
					t.Error("503 without Retry-After")
				}
				if !strings.Contains(p.Detail, tc.wantNS) {
					t.Errorf("detail %q does not name the namespace", p.Detail)
				}
			}
		})
	}
}

// An absolute-form request target names the authority itself; RFC 9112
// §3.2.2 says the Host header is then ignored. Go's server sets r.Host from
// the URL, so the router must route by the URL's host and tell the gateway
// that same host, never pick one and forward the other.
func TestAbsoluteFormRequestTarget(t *testing.T) {
	f := newHostFixture(t)
	tests := []struct {
		name        string
		target      string
		host        string
		wantBackend string
		wantHost    string
	}{
		{"URL names b, Host names a", "http://b.example/x", "a.example", "b", "b.example"},
		{"URL names a, Host names b", "http://a.example/x", "b.example", "a", "a.example"},
		{"URL with port and uppercase", "http://B.EXAMPLE:80/x", "a.example", "b", "b.example:80"},
		{"origin form keeps Host", "/x", "a.example", "a", "a.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tc.target, tc.host); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			s := decodeSeen(t, body)
			if s.Backend != tc.wantBackend || s.Path != "/x" {
				t.Errorf("reached %s%s, want %s/x", s.Backend, s.Path, tc.wantBackend)
			}
			// The gateway must see the host the router routed by.
			if s.Host != tc.wantHost || s.XForwardedHost != tc.wantHost {
				t.Errorf("backend %s saw Host %q, X-Forwarded-Host %q; want %q for both", s.Backend, s.Host, s.XForwardedHost, tc.wantHost)
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	f := newHostFixture(t)
	tests := []struct {
		name   string
		header []string
	}{
		{"plain", nil},
		// The router is the front door: what a client claims is not passed on.
		{"spoofed by the client", []string{"X-Forwarded-For", "203.0.113.9", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.get(t, "a.example:8080", "/", tc.header...)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			s := decodeSeen(t, body)
			// A client on this host is named by the host's address, which a
			// trusted-proxy gateway accepts (see identify).
			if want := openclawcfg.HostAddress(); s.XForwardedFor != want {
				t.Errorf("X-Forwarded-For %q, want %s", s.XForwardedFor, want)
			}
			if s.XForwardedHost != "a.example:8080" || s.Host != "a.example:8080" {
				t.Errorf("Host %q, X-Forwarded-Host %q; want a.example:8080", s.Host, s.XForwardedHost)
			}
			if s.XForwardedProt != "http" {
				t.Errorf("X-Forwarded-Proto %q, want http", s.XForwardedProt)
			}
		})
	}
}

func TestWatchUpdatesTakeEffect(t *testing.T) {
	f := newHostFixture(t)
	backendOf := func(host string) string {
		resp, body := f.get(t, host, "/")
		if resp.StatusCode != 200 {
			return fmt.Sprint(resp.StatusCode)
		}
		return decodeSeen(t, body).Backend
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// The store frees a hostname before giving it to another namespace.
	f.w.ns <- store.Event{Type: store.EventPut, Name: "a", Namespace: nsAt("a", namespace.PhaseRunning, f.addrA)}
	f.w.ns <- store.Event{Type: store.EventPut, Name: "b", Namespace: nsAt("b", namespace.PhaseRunning, f.addrB, "b.example", "a.example")}
	until("a.example reaches b", func() bool { return backendOf("a.example") == "b" })
	if got := backendOf("b.example"); got != "b" {
		t.Errorf("b.example reaches %s after the move, want b", got)
	}

	f.w.ns <- store.Event{Type: store.EventPut, Name: "c", Namespace: nsAt("c", namespace.PhaseRunning, f.addrA, "c.example")}
	until("c.example is served once c runs", func() bool { return backendOf("c.example") == "a" })

	f.w.ns <- store.Event{Type: store.EventDelete, Name: "b"}
	until("b's hostnames are unknown after its delete", func() bool {
		return backendOf("a.example") == "404" && backendOf("b.example") == "404"
	})

	f.w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{nsAt("a", namespace.PhaseRunning, f.addrA, "a.example")}}
	until("a reset replaces the table", func() bool {
		return backendOf("a.example") == "a" && backendOf("c.example") == "404"
	})
}

// rawRequest sends head (a request head without the final blank line) on
// its own connection and returns the reply.
func (f *hostFixture) rawRequest(t *testing.T, head string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, head+"Connection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// No header a client controls can make a request routed by one host reach
// another namespace, or tell the gateway a host other than the one routed
// by: the router routes by the target's authority (absolute form) or the
// Host, and passes exactly that on.
func TestHostSpoofing(t *testing.T) {
	f := newHostFixture(t)
	tests := []struct {
		name        string
		head        string
		wantStatus  int
		wantBackend string
		wantHost    string
	}{
		{"X-Forwarded-Host names b", "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Host: b.example\r\n", 200, "a", "a.example"},
		{"X-Original-Host and Forwarded name b", "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Original-Host: b.example\r\nForwarded: host=b.example\r\n", 200, "a", "a.example"},
		{"userinfo names b", "GET http://b.example@a.example/x HTTP/1.1\r\nHost: c.example\r\n", 200, "a", "a.example"},
		{"https target names b", "GET https://b.example/x HTTP/1.1\r\nHost: a.example\r\n", 200, "b", "b.example"},
		{"two Host fields", "GET /x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n", 400, "", ""},
		{"Host with a path", "GET /x HTTP/1.1\r\nHost: b.example/evil\r\n", 400, "", ""},
		// fasthttp takes what follows the '@' as the host: b, and the
		// gateway is told b, the host it was routed by.
		{"Host with userinfo", "GET /x HTTP/1.1\r\nHost: a.example@b.example\r\n", 200, "b", "b.example"},
		{"suffix of a hostname", "GET /x HTTP/1.1\r\nHost: xa.example\r\n", 404, "", ""},
		{"CONNECT to b", "CONNECT b.example:80 HTTP/1.1\r\nHost: b.example:80\r\n", 405, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.rawRequest(t, tc.head)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantStatus != 200 {
				return
			}
			s := decodeSeen(t, body)
			if s.Backend != tc.wantBackend || s.Host != tc.wantHost || s.XForwardedHost != tc.wantHost {
				t.Fatalf("reached %s with Host %q, X-Forwarded-Host %q; want %s with %q for both", s.Backend, s.Host, s.XForwardedHost, tc.wantBackend, tc.wantHost)
			}
		})
	}
}
