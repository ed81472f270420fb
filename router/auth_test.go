package router

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/apikey"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/openclawcfg"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/units"
)

// fakeWatcher feeds the router from channels the test writes to.
type fakeWatcher struct {
	ns     chan store.Event
	keys   chan store.APIKeyEvent
	values chan map[string]string
}

func (f *fakeWatcher) WatchNamespaces(context.Context) <-chan store.Event    { return f.ns }
func (f *fakeWatcher) WatchAPIKeys(context.Context) <-chan store.APIKeyEvent { return f.keys }
func (f *fakeWatcher) WatchConfig(context.Context) <-chan map[string]string  { return f.values }

// echo is what the fake gateways answer: who they are and the credentials
// that reached them.
type echo struct {
	Namespace     string   `json:"namespace"`
	APIKey        []string `json:"apiKey"`
	Authorization []string `json:"authorization"`
	User          []string `json:"user"`
	ForwardedFor  []string `json:"forwardedFor"`
	Cookie        []string `json:"cookie"`
}

func gateway(t *testing.T, ns string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(echo{Namespace: ns, APIKey: r.Header.Values("X-API-Key"), Authorization: r.Header.Values("Authorization"),
			User: r.Header.Values(openclawcfg.UserHeader), ForwardedFor: r.Header.Values("X-Forwarded-For"), Cookie: r.Header.Values("Cookie")})
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// authFixture is a router with namespaces a and b and keys of every kind.
type authFixture struct {
	r     *Router
	url   string // the router's http://host:port
	w     *fakeWatcher
	clock atomic.Int64
	// secrets by purpose; records by the same names.
	secret map[string]string
	key    map[string]apikey.Key
	t      testing.TB
}

func (f *authFixture) now() time.Time { return time.Unix(0, f.clock.Load()) }

func (f *authFixture) advance(d time.Duration) { f.clock.Add(int64(d)) }

// newAuthFixture is a router whose config requires no key, so keys are
// checked when sent and a request without one routes by host.
func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	return newAuthFixtureWith(t, map[string]string{"namespaces.*.auth.requireKey": "false"})
}

// newAuthFixtureWith is newAuthFixture with a dynamic config; nil: none
// set, so every namespace requires a key (the default).
func newAuthFixtureWith(t *testing.T, values map[string]string, setup ...func(*Router)) *authFixture {
	t.Helper()
	f := &authFixture{w: &fakeWatcher{ns: make(chan store.Event, 16), keys: make(chan store.APIKeyEvent, 16), values: make(chan map[string]string, 16)},
		secret: map[string]string{}, key: map[string]apikey.Key{}}
	f.clock.Store(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	f.r = New(nil)
	f.r.auth.now = f.now
	for _, fn := range setup {
		fn(f.r)
	}

	running := func(name, host string) namespace.Namespace {
		return namespace.Namespace{
			Spec:   namespace.Spec{Name: name, Hostnames: []string{host}},
			Status: namespace.Status{Phase: namespace.PhaseRunning, Address: gateway(t, name)},
		}
	}
	f.w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{running("a", "a.example"), running("b", "b.example")}}

	mk := func(name, ns, rate string, edit func(*apikey.Key)) {
		k, s, err := apikey.New(ns, name, rate, 0, f.now())
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(&k)
		}
		f.secret[name], f.key[name] = s, k
	}
	mk("a", "a", "", nil)
	mk("b", "b", "", nil)
	mk("limited", "a", "5/second", nil)
	mk("expired", "a", "", func(k *apikey.Key) { k.ExpiresAt = f.now().Add(-time.Second) })
	mk("expiring", "a", "", func(k *apikey.Key) { k.ExpiresAt = f.now().Add(time.Hour) })
	mk("revoked", "a", "", func(k *apikey.Key) { k.RevokedAt = f.now().Add(-time.Hour) })
	mk("orphan", "gone", "", nil)
	var snap []apikey.Key
	for _, k := range f.key {
		snap = append(snap, k)
	}
	f.w.keys <- store.APIKeyEvent{Type: store.EventReset, Snapshot: snap}

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if values == nil {
		values = map[string]string{}
	}
	f.w.values <- values
	go f.r.Run(ctx, f.w)
	select {
	case <-f.r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("router not ready")
	}
	f.t = t
	f.url = serveRouter(t, f.r, Limits{})
	return f
}

// do sends one request through the router; headers are name, value pairs.
func (f *authFixture) do(host string, headers ...string) *httptest.ResponseRecorder {
	req, err := http.NewRequest("GET", f.url+"/v1/models", nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return record(f.t, req)
}

func TestAuthDecisions(t *testing.T) {
	f := newAuthFixture(t)
	bearer := func(name string) string { return "Bearer " + f.secret[name] }
	tests := []struct {
		name     string
		host     string
		headers  []string
		code     int
		ns       string // the gateway that must answer
		detail   string // in the problem body
		wantAuth []string
	}{
		{name: "no key routes by host", host: "a.example", code: 200, ns: "a"},
		{name: "no key unknown host", host: "10.0.0.1:8080", code: 404, detail: "no namespace serves host"},
		{name: "own key on own host", host: "a.example", headers: []string{"Authorization", bearer("a")}, code: 200, ns: "a"},
		{name: "key on unknown host", host: "10.0.0.1:8080", headers: []string{"Authorization", bearer("a")}, code: 200, ns: "a"},
		{name: "key on no host", host: "", headers: []string{"X-API-Key", f.secret["b"]}, code: 200, ns: "b"},
		{name: "x-api-key on own host", host: "B.Example.:80", headers: []string{"X-API-Key", f.secret["b"]}, code: 200, ns: "b"},
		{name: "lowercase bearer", host: "x.test", headers: []string{"Authorization", "bearer " + f.secret["a"]}, code: 200, ns: "a"},
		{name: "cross-tenant", host: "b.example", headers: []string{"Authorization", bearer("a")}, code: 403, detail: "not valid for host"},
		{name: "cross-tenant x-api-key", host: "a.example", headers: []string{"X-API-Key", f.secret["b"]}, code: 403, detail: "not valid for host"},
		{name: "unknown key", host: "a.example", headers: []string{"Authorization", "Bearer sk-a-" + strings.Repeat("x", 33)}, code: 401, detail: "unknown API key"},
		{name: "garbage x-api-key", host: "a.example", headers: []string{"X-API-Key", "hunter2"}, code: 401, detail: "unknown API key"},
		{name: "empty x-api-key", host: "a.example", headers: []string{"X-API-Key", ""}, code: 401, detail: "unknown API key"},
		{name: "expired", host: "a.example", headers: []string{"Authorization", bearer("expired")}, code: 401, detail: "expired at"},
		{name: "revoked", host: "10.0.0.1", headers: []string{"X-API-Key", f.secret["revoked"]}, code: 401, detail: "has been revoked"},
		{name: "namespace gone", host: "10.0.0.1", headers: []string{"X-API-Key", f.secret["orphan"]}, code: 401, detail: "no longer exists"},
		{name: "two different keys", host: "a.example", headers: []string{"X-API-Key", f.secret["a"], "Authorization", bearer("b")}, code: 401, detail: "two different API keys"},
		{name: "same key twice", host: "a.example", headers: []string{"X-API-Key", f.secret["a"], "Authorization", bearer("a")}, code: 200, ns: "a"},
		{name: "gateway token is not a clawd key", host: "a.example", headers: []string{"Authorization", "Bearer gw-token"}, code: 200, ns: "a", wantAuth: []string{"Bearer gw-token"}},
		{name: "gateway token kept, clawd key stripped", host: "x.test", headers: []string{"X-API-Key", f.secret["a"], "Authorization", "Bearer gw-token"}, code: 200, ns: "a", wantAuth: []string{"Bearer gw-token"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.host, tc.headers...)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code != 200 {
				var p keyProblem
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || !strings.Contains(p.Detail, tc.detail) {
					t.Fatalf("problem %s, want detail with %q", rec.Body, tc.detail)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q", ct)
				}
				if tc.code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without WWW-Authenticate")
				}
				if tc.code == 403 && strings.Contains(rec.Body.String(), `"b"`) {
					t.Errorf("403 names the host's namespace: %s", rec.Body)
				}
				return
			}
			var got echo
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("gateway reply %s: %v", rec.Body, err)
			}
			if got.Namespace != tc.ns {
				t.Fatalf("answered by %q, want %q", got.Namespace, tc.ns)
			}
			// The gateway never sees a clawd key.
			if len(got.APIKey) != 0 || strings.Contains(strings.Join(got.Authorization, " "), "sk-") {
				t.Errorf("key reached the gateway: X-API-Key %q, Authorization %q", got.APIKey, got.Authorization)
			}
			if strings.Join(got.Authorization, "|") != strings.Join(tc.wantAuth, "|") {
				t.Errorf("Authorization at gateway %q, want %q", got.Authorization, tc.wantAuth)
			}
		})
	}
}

func TestKeyExpiresWhileInUse(t *testing.T) {
	f := newAuthFixture(t)
	if rec := f.do("a.example", "X-API-Key", f.secret["expiring"]); rec.Code != 200 {
		t.Fatalf("before expiry: %d %s", rec.Code, rec.Body)
	}
	f.advance(time.Hour)
	if rec := f.do("a.example", "X-API-Key", f.secret["expiring"]); rec.Code != 401 {
		t.Fatalf("at expiry: %d %s", rec.Code, rec.Body)
	}
}

// eventually polls cond; the watch delivers asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRevocationAndDeletionFromWatch(t *testing.T) {
	f := newAuthFixture(t)
	k := f.key["a"]
	if rec := f.do("a.example", "X-API-Key", f.secret["a"]); rec.Code != 200 {
		t.Fatalf("before revoke: %d", rec.Code)
	}
	k.RevokedAt = f.now()
	f.w.keys <- store.APIKeyEvent{Type: store.EventPut, ID: k.ID, Key: k}
	eventually(t, "revocation", func() bool { return f.do("a.example", "X-API-Key", f.secret["a"]).Code == 401 })

	b := f.key["b"]
	f.w.keys <- store.APIKeyEvent{Type: store.EventDelete, ID: b.ID}
	eventually(t, "deletion", func() bool { return f.do("b.example", "X-API-Key", f.secret["b"]).Code == 401 })

	// A namespace deleted before its keys' delete arrives: its keys fail.
	l := f.key["limited"]
	f.w.ns <- store.Event{Type: store.EventDelete, Name: "a"}
	eventually(t, "namespace deletion", func() bool {
		rec := f.do("10.0.0.1", "X-API-Key", f.secret["limited"])
		return rec.Code == 401 && strings.Contains(rec.Body.String(), l.ID)
	})
}

func TestRateLimit(t *testing.T) {
	f := newAuthFixture(t)
	key := f.secret["limited"]
	id := f.key["limited"].ID
	// 5/second has a burst of 5 (see burstFor); the clock stands still.
	for i := 0; i < 5; i++ {
		rec := f.do("a.example", "Authorization", "Bearer "+key)
		if rec.Code != 200 {
			t.Fatalf("request %d: %d %s", i+1, rec.Code, rec.Body)
		}
		h := rec.Header()
		if h.Get("RateLimit-Limit") != "5" || h.Get("RateLimit-Remaining") != string(rune('0'+4-i)) || h.Get("RateLimit-Policy") != "5;w=1" {
			t.Errorf("request %d: RateLimit headers %v", i+1, h)
		}
	}
	rec := f.do("a.example", "Authorization", "Bearer "+key)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("6th request: %d, want 429", rec.Code)
	}
	h := rec.Header()
	if h.Get("Retry-After") != "1" || h.Get("RateLimit-Remaining") != "0" || h.Get("RateLimit-Reset") != "1" || h.Get("RateLimit-Limit") != "5" {
		t.Errorf("429 headers: %v", h)
	}
	var p keyProblem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.KeyID != id || p.RateLimit != "5/second" || p.Status != 429 || p.Namespace != "a" {
		t.Errorf("429 body: %s", rec.Body)
	}
	// Refused requests use no quota: after one token's time, exactly one
	// request passes.
	for i := 0; i < 3; i++ {
		f.do("a.example", "Authorization", "Bearer "+key)
	}
	f.advance(200 * time.Millisecond)
	if rec := f.do("a.example", "Authorization", "Bearer "+key); rec.Code != 200 {
		t.Fatalf("after 200ms: %d", rec.Code)
	}
	if rec := f.do("a.example", "Authorization", "Bearer "+key); rec.Code != 429 {
		t.Fatalf("second after 200ms: %d", rec.Code)
	}
	f.advance(time.Second)
	for i := 0; i < 5; i++ {
		if rec := f.do("a.example", "X-API-Key", key); rec.Code != 200 {
			t.Fatalf("after a second, request %d: %d", i+1, rec.Code)
		}
	}

	// Unlimited keys carry no RateLimit fields.
	if rec := f.do("a.example", "X-API-Key", f.secret["a"]); rec.Header().Get("RateLimit-Limit") != "" {
		t.Errorf("unlimited key got RateLimit headers")
	}

	// A changed limit replaces the bucket.
	k := f.key["limited"]
	k.RateLimit = "1/hour"
	f.w.keys <- store.APIKeyEvent{Type: store.EventPut, ID: k.ID, Key: k}
	eventually(t, "new limit", func() bool {
		return f.do("a.example", "X-API-Key", key).Header().Get("RateLimit-Limit") == "1"
	})
	rec = f.do("a.example", "X-API-Key", key)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "3600" {
		t.Errorf("1/hour after its one request: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestBurstFor(t *testing.T) {
	for _, tc := range []struct {
		rate string
		want int
	}{
		{"1/second", 1}, {"3/second", 3}, {"10/minute", 10}, {"11/minute", 10},
		{"60/minute", 10}, {"1000/hour", 100}, {"100000/day", 10000},
	} {
		r, err := units.ParseRate(tc.rate)
		if err != nil {
			t.Fatal(err)
		}
		if got := burstFor(r); got != tc.want {
			t.Errorf("burstFor(%s) = %d, want %d", tc.rate, got, tc.want)
		}
	}
}

// Last-use updates rewrite the record; they must not rebuild the table.
func TestApplyIgnoresLastUse(t *testing.T) {
	var a keyAuth
	a.init()
	k, _, _ := apikey.New("a", "", "", 0, time.Now())
	if !a.apply(store.APIKeyEvent{Type: store.EventPut, ID: k.ID, Key: k}) {
		t.Fatal("new key: no rebuild")
	}
	k.LastUsedAt = time.Now()
	if a.apply(store.APIKeyEvent{Type: store.EventPut, ID: k.ID, Key: k}) {
		t.Error("last-use update rebuilt the table")
	}
	k.RevokedAt = time.Now()
	if !a.apply(store.APIKeyEvent{Type: store.EventPut, ID: k.ID, Key: k}) {
		t.Error("revocation did not rebuild the table")
	}
}

type fakeToucher struct {
	mu      sync.Mutex
	touches map[string][]time.Time
	missing string
}

func (f *fakeToucher) TouchAPIKey(_ context.Context, id string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id == f.missing {
		return store.ErrNotFound
	}
	f.touches[id] = append(f.touches[id], at)
	return nil
}

func TestFlushUse(t *testing.T) {
	f := newAuthFixture(t)
	tc := &fakeToucher{touches: map[string][]time.Time{}, missing: f.key["b"].ID}
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		f.do("a.example", "X-API-Key", f.secret["a"])
	}
	f.do("b.example", "X-API-Key", f.secret["b"])
	f.r.auth.flushUse(ctx, tc, f.r.log)
	a := f.key["a"].ID
	if len(tc.touches[a]) != 1 || !tc.touches[a][0].Equal(f.now()) {
		t.Fatalf("touches after 50 requests: %v, want one at %v", tc.touches, f.now())
	}
	if _, ok := f.r.auth.states.Load(f.key["b"].ID); ok {
		t.Error("state of a key the store no longer has was kept")
	}
	// No use since: nothing to write.
	f.r.auth.flushUse(ctx, tc, f.r.log)
	if len(tc.touches[a]) != 1 {
		t.Errorf("unused key touched again: %v", tc.touches[a])
	}
	f.advance(time.Minute)
	f.do("a.example", "X-API-Key", f.secret["a"])
	f.r.auth.flushUse(ctx, tc, f.r.log)
	if len(tc.touches[a]) != 2 || !tc.touches[a][1].Equal(f.now()) {
		t.Errorf("touches after new use: %v", tc.touches[a])
	}
}

func TestStripKeys(t *testing.T) {
	tests := []struct {
		name string
		in   [][2]string
		want []string // Authorization values left
	}{
		{"key header and bearer key go, basic stays",
			[][2]string{{"X-API-Key", "sk-a-x"}, {"Authorization", "Bearer sk-a-y"}, {"Authorization", "Basic Zm9vOmJhcg=="}},
			[]string{"Basic Zm9vOmJhcg=="}},
		{"scheme in any case", [][2]string{{"Authorization", "BEARER sk-a-z"}}, nil},
		{"other bearer tokens are not clawd's", [][2]string{{"Authorization", "Bearer gateway-token"}}, []string{"Bearer gateway-token"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			for _, kv := range tc.in {
				h.Add(kv[0], kv[1])
			}
			stripKeys(&h)
			var got []string
			for _, v := range h.PeekAll("Authorization") {
				got = append(got, string(v))
			}
			if len(h.Peek("X-API-Key")) != 0 || strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("after strip: X-API-Key %q, Authorization %q; want none and %q", h.Peek("X-API-Key"), got, tc.want)
			}
		})
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	r := New(nil)
	keys := make([]apikey.Key, 10000)
	var secret string
	for i := range keys {
		k, s, _ := apikey.New("a", "", "1000000000/second", 0, time.Now())
		keys[i], secret = k, s
	}
	r.auth.apply(store.APIKeyEvent{Type: store.EventReset, Snapshot: keys})
	r.auth.rebuild(r.log)
	t := &table{byName: map[string]*route{"a": {namespace: "a"}}}
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("http://10.0.0.1/")
	req.Header.Set("Authorization", "Bearer "+secret)
	ctx.Init(&req, nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		x := r.begin(&ctx)
		if _, ok := r.authenticate(&ctx, x, t, []byte("10.0.0.1"), nil); !ok {
			b.Fatal("refused")
		}
		x.finish(200, 0)
	}
}
