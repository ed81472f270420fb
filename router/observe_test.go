package router

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// obsWatcher serves one fixed snapshot of namespaces and no keys.
type obsWatcher struct {
	Watcher
	names []namespace.Namespace
}

func (w obsWatcher) WatchNamespaces(ctx context.Context) <-chan store.Event {
	ch := make(chan store.Event, 1)
	ch <- store.Event{Type: store.EventReset, Snapshot: w.names}
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

func (w obsWatcher) WatchConfig(ctx context.Context) <-chan map[string]string {
	return openConfig(ctx)
}

func (w obsWatcher) WatchAPIKeys(ctx context.Context) <-chan store.APIKeyEvent {
	ch := make(chan store.APIKeyEvent, 1)
	ch <- store.APIKeyEvent{Type: store.EventReset}
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu    sync.Mutex
	reqs  []RequestInfo
	wakes []string
}

func (r *recorder) ObserveRequest(i *RequestInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, *i)
}

func (r *recorder) ObserveWake(ns string, d time.Duration, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wakes = append(r.wakes, ns+":"+result)
}

func (r *recorder) snapshot() ([]RequestInfo, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RequestInfo(nil), r.reqs...), append([]string(nil), r.wakes...)
}

// gatedWaker wakes every namespace to addr once open is closed.
type gatedWaker struct {
	addr  string
	open  chan struct{}
	calls sync.WaitGroup
	fail  error
}

func (g *gatedWaker) Wake(ctx context.Context, _ string) (string, error) {
	g.calls.Done()
	select {
	case <-g.open:
		return g.addr, g.fail
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func observedRouter(t *testing.T, names ...namespace.Namespace) (*Router, *recorder, string) {
	t.Helper()
	r := New(nil)
	rec := &recorder{}
	r.Observe(rec)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx, obsWatcher{names: names})
	<-r.Ready()
	return r, rec, serveRouter(t, r, Limits{})
}

func send(t *testing.T, url, method, host, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestObserverSeesEveryRequest(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("got " + string(b)))
	}))
	t.Cleanup(gw.Close)
	addr := strings.TrimPrefix(gw.URL, "http://")
	_, rec, url := observedRouter(t, obsNS("alpha", namespace.PhaseRunning, addr, "alpha.test"))

	if code := send(t, url+"/v1/x?token=secret", "POST", "alpha.test", "hello"); code != 201 {
		t.Fatalf("routed POST: %d", code)
	}
	if code := send(t, url+"/nowhere", "GET", "nobody.test", ""); code != 404 {
		t.Fatalf("unknown host: %d", code)
	}
	if code := send(t, url+"/", "GET", "alpha.test", ""); code != 201 {
		t.Fatalf("routed GET: %d", code)
	}

	reqs, _ := rec.snapshot()
	if len(reqs) != 3 {
		t.Fatalf("%d observations, want 3: %+v", len(reqs), reqs)
	}
	cases := []struct {
		name       string
		got        RequestInfo
		ns, method string
		path       string
		status     int
		in, out    int64
	}{
		{"routed POST", reqs[0], "alpha", "POST", "/v1/x", 201, 5, int64(len("got hello"))},
		{"unknown host", reqs[1], "", "GET", "/nowhere", 404, 0, -1},
		{"routed GET", reqs[2], "alpha", "GET", "/", 201, 0, int64(len("got "))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.got
			if g.Namespace != tc.ns || g.Method != tc.method || g.Path != tc.path || g.Status != tc.status || g.BytesIn != tc.in {
				t.Fatalf("got %+v", g)
			}
			if tc.out >= 0 && g.BytesOut != tc.out || tc.out < 0 && g.BytesOut == 0 {
				t.Fatalf("bytes out %d, want %d", g.BytesOut, tc.out)
			}
			if g.Duration <= 0 || g.Start.IsZero() || g.Remote == "" || g.WakeWaited != 0 {
				t.Fatalf("timing or remote missing: %+v", g)
			}
		})
	}
}

// Many requests held for one wake make one wake observation, and each
// request records how long it waited.
func TestWakeObservedOncePerWake(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(gw.Close)
	r, rec, url := observedRouter(t, obsNS("sleepy", namespace.PhaseStopped, "", "sleepy.test"))
	wk := &gatedWaker{addr: strings.TrimPrefix(gw.URL, "http://"), open: make(chan struct{})}
	r.Lifecycle(wk, nil, 10*time.Second)

	const n = 5
	wk.calls.Add(n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := send(t, url, "GET", "sleepy.test", ""); code != 200 {
				t.Errorf("held request: %d", code)
			}
		}()
	}
	wk.calls.Wait() // all are held
	time.Sleep(20 * time.Millisecond)
	close(wk.open)
	wg.Wait()

	reqs, wakes := rec.snapshot()
	if len(wakes) != 1 || wakes[0] != "sleepy:ok" {
		t.Fatalf("wake observations %v, want one sleepy:ok", wakes)
	}
	for _, q := range reqs {
		if q.WakeWaited < 20*time.Millisecond || q.Namespace != "sleepy" || q.Status != 200 {
			t.Fatalf("held request observed as %+v", q)
		}
	}
}

func TestWakeTimeoutObserved(t *testing.T) {
	r, rec, url := observedRouter(t, obsNS("sleepy", namespace.PhasePaused, "", "sleepy.test"))
	wk := &gatedWaker{open: make(chan struct{})}
	wk.calls.Add(1)
	r.Lifecycle(wk, nil, 50*time.Millisecond)
	if code := send(t, url, "GET", "sleepy.test", ""); code != 503 {
		t.Fatalf("wake timeout: %d, want 503", code)
	}
	reqs, wakes := rec.snapshot()
	if len(wakes) != 1 || wakes[0] != "sleepy:timeout" {
		t.Fatalf("wake observations %v, want sleepy:timeout", wakes)
	}
	if len(reqs) != 1 || reqs[0].Status != 503 || reqs[0].WakeWaited < 50*time.Millisecond {
		t.Fatalf("request observed as %+v", reqs)
	}
}

func TestOwns(t *testing.T) {
	r, _, _ := observedRouter(t, obsNS("alpha", namespace.PhaseRunning, "127.0.0.1:1", "alpha.test", "www.alpha.test"))
	for host, want := range map[string]bool{"alpha.test": true, "WWW.Alpha.Test.": true, "beta.test": false, "": false, "test": false} {
		if got := r.Owns(host); got != want {
			t.Errorf("Owns(%q) = %v, want %v", host, got, want)
		}
	}
}

func obsNS(name string, phase namespace.Phase, addr string, hosts ...string) namespace.Namespace {
	return namespace.Namespace{
		Spec:   namespace.Spec{Name: name, Hostnames: hosts},
		Status: namespace.Status{Phase: phase, Address: addr},
	}
}

// shutGate is a Gate shut for the namespaces in it.
type shutGate map[string]bool

func (g shutGate) Closed(ns string) bool { return g[ns] }

// A Running namespace whose gate is shut (its gateway is being put to
// sleep) gets its requests held and woken, not sent to the gateway.
func TestShutGateHoldsRequestsOfARunningNamespace(t *testing.T) {
	var direct, woken atomic.Int64
	old := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { direct.Add(1) }))
	t.Cleanup(old.Close)
	fresh := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { woken.Add(1) }))
	t.Cleanup(fresh.Close)
	r, _, url := observedRouter(t,
		obsNS("dozing", namespace.PhaseRunning, strings.TrimPrefix(old.URL, "http://"), "dozing.test"),
		obsNS("awake", namespace.PhaseRunning, strings.TrimPrefix(old.URL, "http://"), "awake.test"))
	wk := &gatedWaker{addr: strings.TrimPrefix(fresh.URL, "http://"), open: make(chan struct{})}
	close(wk.open)
	wk.calls.Add(1)
	r.Lifecycle(wk, nil, 10*time.Second)
	r.SetGate(shutGate{"dozing": true})

	if code := send(t, url, "GET", "dozing.test", ""); code != 200 || woken.Load() != 1 || direct.Load() != 0 {
		t.Fatalf("shut gate: %d, %d woken, %d sent to the old address; want the request woken", code, woken.Load(), direct.Load())
	}
	if code := send(t, url, "GET", "awake.test", ""); code != 200 || direct.Load() != 1 {
		t.Fatalf("open gate: %d, %d sent straight; want it forwarded", code, direct.Load())
	}
}
