package router

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/clawd-dev/clawd/auth"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
)

// loginWatcher feeds an auth.Service from a channel the test writes to.
type loginWatcher struct{ ch chan []auth.Login }

func (w loginWatcher) WatchLogins(context.Context) <-chan []auth.Login { return w.ch }

// outcomes counts sign-in outcomes as /metrics would.
type outcomes struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *outcomes) ObserveLogin(ns, provider, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[ns+"/"+provider+"/"+outcome]++
}

func (o *outcomes) get(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[key]
}

// oidcFixture is the auth fixture's router (namespaces a and b) with a
// real OpenID provider in the test process, a sign-in configured for
// namespaces a and b, and a browser that reaches *.example at the router.
type oidcFixture struct {
	*authFixture
	op      *mockoidc.MockOIDC
	svc     *auth.Service
	logins  loginWatcher
	box     *secrets.Box
	seen    *outcomes
	skew    atomic.Int64 // added to the sign-in's clock
	tamper  atomic.Pointer[func(jwt.MapClaims) (jwt.Claims, *mockoidc.Keypair)]
	routerA string // the router's host:port
	lines   *accessLines
}

// accessLines keeps the access log lines of every request.
type accessLines struct {
	mu    sync.Mutex
	lines []string
}

func (a *accessLines) ObserveRequest(i *RequestInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = append(a.lines, string(AppendAccessLine(nil, i)))
}

func (a *accessLines) all() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.lines, "")
}

func newOIDCFixture(t *testing.T, values map[string]string) *oidcFixture {
	t.Helper()
	f := &oidcFixture{seen: &outcomes{n: map[string]int{}}, logins: loginWatcher{ch: make(chan []auth.Login, 1)}}
	op, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The token endpoint's ID token may be rewritten, to play a provider
	// (or a man in the middle) that sends a bad one.
	_ = op.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fn := f.tamper.Load()
			if fn == nil || !strings.HasSuffix(r.URL.Path, "/token") {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var body map[string]any
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["id_token"] == nil {
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			claims := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(body["id_token"].(string), claims); err != nil {
				t.Errorf("parsing the provider's ID token: %v", err)
			}
			c, kp := (*fn)(claims)
			if kp == nil {
				kp = op.Keypair
			}
			signed, err := kp.SignJWT(c)
			if err != nil {
				t.Errorf("signing: %v", err)
			}
			body["id_token"] = signed
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(body)
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Shutdown() })
	f.op = op

	key := bytes.Repeat([]byte{7}, secrets.KeySize)
	if f.box, err = secrets.New(key); err != nil {
		t.Fatal(err)
	}
	f.svc = auth.New(auth.Options{Box: f.box, Observer: f.seen, SessionTTL: time.Hour,
		Now: func() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) }})
	f.logins.ch <- []auth.Login{f.login("a", nil), f.login("b", nil)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go f.svc.Run(ctx, f.logins)

	f.lines = &accessLines{}
	f.authFixture = newAuthFixtureWith(t, values, func(r *Router) { r.SetLogin(f.svc); r.Observe(f.lines) })
	f.routerA = strings.TrimPrefix(f.url, "http://")
	return f
}

// login is namespace ns's sign-in at the provider, edited by edit.
func (f *oidcFixture) login(ns string, edit func(*auth.Login)) auth.Login {
	sealed, err := f.box.Seal([]byte(f.op.ClientSecret), auth.SecretContext(ns))
	if err != nil {
		panic(err)
	}
	l := auth.Login{Namespace: ns, Provider: "oidc", ClientID: f.op.ClientID, SealedSecret: sealed,
		CallbackURL: "http://" + ns + ".example/callback", Issuer: f.op.Issuer(), Generation: "g1"}
	if edit != nil {
		edit(&l)
	}
	l.Normalize()
	return l
}

// setLogins replaces the sign-ins and waits until the router sees them.
func (f *oidcFixture) setLogins(t *testing.T, ls ...auth.Login) {
	t.Helper()
	f.logins.ch <- ls
	eventually(t, "logins applied", func() bool {
		for _, l := range ls {
			if got, ok := f.svc.Login(l.Namespace); !ok || got.Generation != l.Generation || got.Issuer != l.Issuer {
				return false
			}
		}
		return true
	})
}

// browser is a cookie-keeping client that reaches *.example at the router
// and follows no redirect by itself.
func (f *oidcFixture) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{}
	return &http.Client{
		Jar: jar,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if h, _, _ := net.SplitHostPort(addr); strings.HasSuffix(h, ".example") {
				addr = f.routerA
			}
			return d.DialContext(ctx, network, addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type reply struct {
	status   int
	location string
	cookies  []*http.Cookie
	header   http.Header
	body     string
}

func get(t *testing.T, c *http.Client, u string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, location: resp.Header.Get("Location"), cookies: resp.Cookies(), header: resp.Header, body: string(b)}
}

// toCallback runs a browser from a page of host to the provider and back
// to the callback's URL, which it returns without visiting it.
func (f *oidcFixture) toCallback(t *testing.T, c *http.Client, host string) string {
	t.Helper()
	r := get(t, c, "http://"+host+"/chat?x=1")
	if r.status != 303 || !strings.HasPrefix(r.location, startPath+"?rd=") {
		t.Fatalf("page without a session: %d %q %s, want 303 to %s", r.status, r.location, r.body, startPath)
	}
	r = get(t, c, "http://"+host+r.location)
	if r.status != 302 || !strings.HasPrefix(r.location, f.op.AuthorizationEndpoint()) {
		t.Fatalf("start: %d %q %s, want 302 to the provider", r.status, r.location, r.body)
	}
	q, _ := url.Parse(r.location)
	for _, p := range []string{"state", "nonce", "code_challenge"} {
		if l, _ := f.svc.Login(strings.TrimSuffix(host, ".example")); p == "nonce" && l.Issuer == "" {
			continue // no ID token without discovery: nothing to bind a nonce to
		}
		if q.Query().Get(p) == "" {
			t.Errorf("authorization request without %s: %s", p, r.location)
		}
	}
	if m := q.Query().Get("code_challenge_method"); m != "S256" {
		t.Errorf("code_challenge_method %q, want S256", m)
	}
	r = get(t, c, r.location)
	if r.status != 302 || !strings.HasPrefix(r.location, "http://"+host+"/callback?") {
		t.Fatalf("provider: %d %q %s, want 302 to the callback", r.status, r.location, r.body)
	}
	return r.location
}

// flowCookie is the first sign-in flow cookie among cs.
func flowCookie(cs []*http.Cookie) *http.Cookie {
	for _, c := range cs {
		if strings.HasPrefix(c.Name, auth.FlowCookie+"_") {
			return c
		}
	}
	return nil
}

func cookieNamed(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestOIDCLogin: a browser with no session goes to the provider and comes
// back signed in; the gateway sees the user, never the session or a
// client's own user header; logout ends the session.
func TestOIDCLogin(t *testing.T) {
	f := newOIDCFixture(t, map[string]string{})
	c := f.browser()
	cb := f.toCallback(t, c, "a.example")
	r := get(t, c, cb)
	if r.status != 303 || r.location != "/chat?x=1" {
		t.Fatalf("callback: %d %q %s, want 303 back to /chat?x=1", r.status, r.location, r.body)
	}
	s := cookieNamed(r.cookies, auth.SessionCookie)
	if s == nil || !s.HttpOnly || s.SameSite != http.SameSiteLaxMode || s.Secure || s.Path != "/" || s.Domain != "" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, host-only, not Secure over plain HTTP", s)
	}
	if !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		t.Errorf("callback reply may be cached: %q", r.header.Get("Cache-Control"))
	}
	if fl := flowCookie(r.cookies); fl == nil || fl.MaxAge >= 0 {
		t.Errorf("flow cookie not cleared: %+v", fl)
	}

	r = get(t, c, "http://a.example/v1/models", "X-Clawd-User", "admin", "Accept", "application/json")
	var e echo
	if r.status != 200 || json.Unmarshal([]byte(r.body), &e) != nil {
		t.Fatalf("signed in: %d %s", r.status, r.body)
	}
	if e.Namespace != "a" || len(e.User) != 1 || e.User[0] != "oidc:jane.doe@example.com" {
		t.Errorf("gateway saw namespace %q user %q, want a and oidc:jane.doe@example.com", e.Namespace, e.User)
	}
	if strings.Contains(strings.Join(e.Cookie, ";"), auth.SessionCookie) {
		t.Errorf("the session cookie reached the gateway: %q", e.Cookie)
	}
	if n := f.seen.get("a/oidc/ok"); n != 1 {
		t.Errorf("ok sign-ins counted %d, want 1", n)
	}
	if !strings.Contains(f.lines.all(), `"key_id":"","user":"oidc:jane.doe@example.com","method":"GET","host":"a.example","path":"/v1/models"`) {
		t.Errorf("the access log does not name the signed-in user:\n%s", f.lines.all())
	}
	// An API key still wins and names itself.
	if rec := f.do("a.example", "X-API-Key", f.secret["a"]); rec.Code != 200 || !strings.Contains(rec.Body.String(), f.key["a"].ID) {
		t.Errorf("a's key: %d %s", rec.Code, rec.Body)
	}

	if r = get(t, f.browser(), "http://a.example"+loginPath); r.status != 200 || !strings.Contains(r.body, `href="`+startPath+`"`) {
		t.Errorf("the key page of a namespace with a sign-in: %d, no link to %s", r.status, startPath)
	}
	r = get(t, c, "http://a.example"+logoutPath)
	if s := cookieNamed(r.cookies, auth.SessionCookie); s == nil || s.MaxAge >= 0 {
		t.Fatalf("logout: %d, session cookie %+v not cleared", r.status, s)
	}
	if r = get(t, c, "http://a.example/v1/models", "Accept", "application/json"); r.status != 401 {
		t.Errorf("after logout: %d %s, want 401", r.status, r.body)
	}
}

// Every way a sign-in can go wrong is refused with a page that says why,
// and nothing reaches the gateway.
func TestOIDCRefusals(t *testing.T) {
	f := newOIDCFixture(t, map[string]string{})
	foreign, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(fn func(jwt.MapClaims) (jwt.Claims, *mockoidc.Keypair)) { f.tamper.Store(&fn) }
	cases := []struct {
		name    string
		setup   func()
		edit    func(string) string // the callback URL
		status  int
		says    string
		outcome string
	}{
		{name: "forged state", edit: func(cb string) string {
			// The flow cookie's name is found from the state's start:
			// forge the rest.
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Set("state", q.Get("state")[:12]+"forged")
			u.RawQuery = q.Encode()
			return u.String()
		}, status: 400, says: "state does not match", outcome: auth.OutcomeInvalidState},
		{name: "foreign state", edit: func(cb string) string {
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Set("state", "someone-elses-state")
			u.RawQuery = q.Encode()
			return u.String()
		}, status: 400, says: "not started in this browser", outcome: auth.OutcomeInvalidState},
		{name: "wrong audience", setup: func() {
			tamper(func(c jwt.MapClaims) (jwt.Claims, *mockoidc.Keypair) { c["aud"] = "someone-else"; return c, nil })
		}, status: 401, says: "ID token is not valid", outcome: auth.OutcomeInvalidToken},
		{name: "wrong issuer", setup: func() {
			tamper(func(c jwt.MapClaims) (jwt.Claims, *mockoidc.Keypair) { c["iss"] = "https://evil.test"; return c, nil })
		}, status: 401, says: "ID token is not valid", outcome: auth.OutcomeInvalidToken},
		{name: "expired ID token", setup: func() {
			tamper(func(c jwt.MapClaims) (jwt.Claims, *mockoidc.Keypair) {
				c["exp"] = time.Now().Add(-time.Minute).Unix()
				return c, nil
			})
		}, status: 401, says: "ID token is not valid", outcome: auth.OutcomeInvalidToken},
		{name: "foreign-signed ID token", setup: func() {
			tamper(func(c jwt.MapClaims) (jwt.Claims, *mockoidc.Keypair) { return c, foreign })
		}, status: 401, says: "ID token is not valid", outcome: auth.OutcomeInvalidToken},
		{name: "another sign-in's nonce", setup: func() {
			tamper(func(c jwt.MapClaims) (jwt.Claims, *mockoidc.Keypair) { c["nonce"] = "other"; return c, nil })
		}, status: 401, says: "nonce", outcome: auth.OutcomeInvalidToken},
		{name: "email outside the allowed domains", setup: func() {
			f.setLogins(t, f.login("a", func(l *auth.Login) { l.AllowedDomains = []string{"corp.example"}; l.Generation = "g2" }), f.login("b", nil))
			f.op.QueueUser(&mockoidc.MockUser{Subject: "m", Email: "mallory@evil.test", EmailVerified: true})
		}, status: 403, says: "mallory@evil.test may not sign in", outcome: auth.OutcomeDenied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.tamper.Store(nil)
			if tc.setup != nil {
				tc.setup()
			}
			defer f.tamper.Store(nil)
			c := f.browser()
			cb := f.toCallback(t, c, "a.example")
			if tc.edit != nil {
				cb = tc.edit(cb)
			}
			before := f.seen.get("a/oidc/" + tc.outcome)
			r := get(t, c, cb)
			if r.status != tc.status || !strings.Contains(r.body, "Sign-in refused") || !strings.Contains(r.body, tc.says) {
				t.Fatalf("callback: %d %s, want %d saying %q", r.status, r.body, tc.status, tc.says)
			}
			if cookieNamed(r.cookies, auth.SessionCookie) != nil {
				t.Errorf("a refused sign-in set a session: %+v", r.cookies)
			}
			if n := f.seen.get("a/oidc/" + tc.outcome); n != before+1 {
				t.Errorf("outcome %s counted %d times, want %d", tc.outcome, n, before+1)
			}
			if r = get(t, c, "http://a.example/v1/models", "Accept", "application/json"); r.status != 401 {
				t.Errorf("after a refused sign-in: %d %s, want 401", r.status, r.body)
			}
		})
	}
	f.setLogins(t, f.login("a", nil), f.login("b", nil))

	t.Run("replayed callback", func(t *testing.T) {
		c := f.browser()
		cb := f.toCallback(t, c, "a.example")
		u, _ := url.Parse("http://a.example/")
		flowCookie := flowCookie(c.Jar.Cookies(u))
		if flowCookie == nil {
			t.Fatal("no flow cookie before the callback")
		}
		if r := get(t, c, cb); r.status != 303 {
			t.Fatalf("first callback: %d %s", r.status, r.body)
		}
		// The same callback again, flow cookie and all (a stolen code and
		// cookie, or a browser's back button).
		other := f.browser()
		other.Jar.SetCookies(u, []*http.Cookie{flowCookie})
		r := get(t, other, cb)
		if r.status != 400 || !strings.Contains(r.body, "already been used") {
			t.Fatalf("replayed callback: %d %s, want 400 already used", r.status, r.body)
		}
		if cookieNamed(r.cookies, auth.SessionCookie) != nil {
			t.Error("a replayed callback set a session")
		}
		if f.seen.get("a/oidc/"+auth.OutcomeReplayed) != 1 {
			t.Error("replay not counted")
		}
	})

	t.Run("replayed code with a fresh state", func(t *testing.T) {
		// The provider refuses a code it has redeemed: a fresh flow whose
		// callback carries an old code fails at the exchange.
		c := f.browser()
		cb := f.toCallback(t, c, "a.example")
		if r := get(t, c, cb); r.status != 303 {
			t.Fatalf("first callback: %d %s", r.status, r.body)
		}
		old, _ := url.Parse(cb)
		c2 := f.browser()
		cb2 := f.toCallback(t, c2, "a.example")
		u, _ := url.Parse(cb2)
		q := u.Query()
		q.Set("code", old.Query().Get("code"))
		u.RawQuery = q.Encode()
		r := get(t, c2, u.String())
		if r.status != 502 || !strings.Contains(r.body, "did not accept the sign-in") {
			t.Fatalf("old code, fresh state: %d %s, want 502", r.status, r.body)
		}
	})

	t.Run("no flow cookie", func(t *testing.T) {
		c := f.browser()
		cb := f.toCallback(t, c, "a.example")
		r := get(t, f.browser(), cb)
		if r.status != 400 || !strings.Contains(r.body, "not started in this browser") {
			t.Fatalf("callback in another browser: %d %s", r.status, r.body)
		}
	})

	t.Run("provider error", func(t *testing.T) {
		c := f.browser()
		cb := f.toCallback(t, c, "a.example")
		u, _ := url.Parse(cb)
		q := u.Query()
		q.Del("code")
		q.Set("error", "access_denied")
		q.Set("error_description", "user cancelled")
		u.RawQuery = q.Encode()
		r := get(t, c, u.String())
		if r.status != 403 || !strings.Contains(r.body, "access_denied: user cancelled") {
			t.Fatalf("provider error: %d %s", r.status, r.body)
		}
	})

	t.Run("namespace a's session on b", func(t *testing.T) {
		c := f.browser()
		if r := get(t, c, f.toCallback(t, c, "a.example")); r.status != 303 {
			t.Fatalf("sign-in to a: %d %s", r.status, r.body)
		}
		ua, _ := url.Parse("http://a.example/")
		s := cookieNamed(c.Jar.Cookies(ua), auth.SessionCookie)
		if s == nil {
			t.Fatal("no session for a")
		}
		if ub, _ := url.Parse("http://b.example/"); len(c.Jar.Cookies(ub)) != 0 {
			t.Errorf("a's cookies are sent to b: %v", c.Jar.Cookies(ub))
		}
		rec := f.do("b.example", "Cookie", auth.SessionCookie+"="+s.Value)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), "not valid for this host") {
			t.Fatalf("a's session on b: %d %s, want 401", rec.Code, rec.Body)
		}
		if rec := f.do("a.example", "Cookie", auth.SessionCookie+"="+s.Value); rec.Code != 200 {
			t.Fatalf("a's session on a: %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("expired session", func(t *testing.T) {
		c := f.browser()
		if r := get(t, c, f.toCallback(t, c, "a.example")); r.status != 303 {
			t.Fatalf("sign-in: %d %s", r.status, r.body)
		}
		f.skew.Store(int64(2 * time.Hour))
		defer f.skew.Store(0)
		r := get(t, c, "http://a.example/v1/models", "Accept", "application/json")
		if r.status != 401 || !strings.Contains(r.body, "expired") {
			t.Fatalf("expired session: %d %s, want 401", r.status, r.body)
		}
	})

	t.Run("reconfigured login voids sessions", func(t *testing.T) {
		c := f.browser()
		if r := get(t, c, f.toCallback(t, c, "a.example")); r.status != 303 {
			t.Fatalf("sign-in: %d %s", r.status, r.body)
		}
		f.setLogins(t, f.login("a", func(l *auth.Login) { l.Generation = "g3" }), f.login("b", nil))
		if r := get(t, c, "http://a.example/v1/models", "Accept", "application/json"); r.status != 401 {
			t.Fatalf("session of the old login: %d %s, want 401", r.status, r.body)
		}
	})

	t.Run("return path stays on the host", func(t *testing.T) {
		c := f.browser()
		r := get(t, c, "http://a.example"+startPath+"?rd="+url.QueryEscape("//evil.test/x"))
		r = get(t, c, r.location) // the provider sends it back
		if r = get(t, c, r.location); r.status != 303 || r.location != "/" {
			t.Fatalf("rd=//evil.test/x: %d %q, want 303 to /", r.status, r.location)
		}
	})
}

// With a sign-in configured nothing of the namespace is served without a
// session or a key, even where auth.requireKey is off; an unfinished one
// (no endpoints yet) keeps the gate shut and sends browsers to the key
// page.
func TestOIDCGate(t *testing.T) {
	f := newOIDCFixture(t, map[string]string{"namespaces.*.auth.requireKey": "false"})
	if rec := f.do("a.example"); rec.Code != 401 || !strings.Contains(rec.Body.String(), "requires a sign-in") {
		t.Fatalf("no session, requireKey off, login on: %d %s, want 401", rec.Code, rec.Body)
	}
	if rec := f.do("a.example", "X-API-Key", f.secret["a"]); rec.Code != 200 {
		t.Fatalf("key: %d %s", rec.Code, rec.Body)
	}
	f.setLogins(t, f.login("a", func(l *auth.Login) { l.Issuer = "" }))
	if rec := f.do("a.example"); rec.Code != 401 {
		t.Fatalf("unfinished login: %d %s, want 401", rec.Code, rec.Body)
	}
	r := get(t, f.browser(), "http://a.example/")
	if r.status != 303 || r.location != loginPath {
		t.Fatalf("browser, unfinished login: %d %q, want 303 to %s", r.status, r.location, loginPath)
	}
	r = get(t, f.browser(), "http://a.example"+startPath)
	if r.status != 503 || !strings.Contains(r.body, "--issuer") {
		t.Fatalf("start of an unfinished login: %d %s, want 503 naming --issuer", r.status, r.body)
	}
	// b has no login any more and requireKey is off: open as before.
	if rec := f.do("b.example"); rec.Code != 200 {
		t.Fatalf("b without login: %d %s", rec.Code, rec.Body)
	}
}

// A sign-in started on another of the namespace's hostnames goes to the
// callback's host first, where the flow cookie must be when the provider
// sends the browser back; it ends signed in there.
func TestOIDCStartsOnTheCallbackHost(t *testing.T) {
	f := newOIDCFixture(t, map[string]string{})
	a := f.r.table.Load().byName["a"]
	f.w.ns <- store.Event{Type: store.EventPut, Name: "a", Namespace: namespace.Namespace{
		Spec:   namespace.Spec{Name: "a", Hostnames: []string{"a.example", "a2.example"}},
		Status: namespace.Status{Phase: namespace.PhaseRunning, Address: a.address}}}
	eventually(t, "a2.example routes to a", func() bool { return f.r.table.Load().byHost["a2.example"] != nil })

	c := f.browser()
	r := get(t, c, "http://a2.example/chat")
	if r.status != 303 {
		t.Fatalf("a2 without a session: %d %s", r.status, r.body)
	}
	r = get(t, c, "http://a2.example"+r.location)
	if r.status != 302 || r.location != "http://a.example"+startPath+"?rd=%2Fchat" {
		t.Fatalf("start on a2: %d %q, want 302 to a.example's start", r.status, r.location)
	}
	r = get(t, c, r.location) // a.example's start → the provider
	r = get(t, c, r.location) // the provider → the callback
	if r = get(t, c, r.location); r.status != 303 || r.location != "/chat" {
		t.Fatalf("callback: %d %q %s", r.status, r.location, r.body)
	}
	if r = get(t, c, "http://a.example/v1/models", "Accept", "application/json"); r.status != 200 {
		t.Fatalf("signed in on a.example: %d %s", r.status, r.body)
	}
}

// Over TLS the sign-in's cookies are Secure.
func TestOIDCCookiesSecureOverTLS(t *testing.T) {
	f := newOIDCFixture(t, map[string]string{})
	f.setLogins(t, f.login("a", func(l *auth.Login) { l.CallbackURL = "https://a.example/callback"; l.Generation = "tls" }))

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"a.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := f.r.Server(Limits{})
	go func() {
		_ = srv.ServeTLSEmbed(ln, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	}()
	t.Cleanup(func() { _ = srv.Shutdown() })
	f.routerA = ln.Addr().String()
	c := f.browser()
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the test's own certificate

	r := get(t, c, "https://a.example"+startPath)
	if fl := flowCookie(r.cookies); r.status != 302 || fl == nil || !fl.Secure || !fl.HttpOnly || fl.SameSite != http.SameSiteLaxMode {
		t.Fatalf("start over TLS: %d, flow cookie %+v; want Secure, HttpOnly, Lax", r.status, fl)
	}
	r = get(t, c, r.location)
	if r.status != 302 || !strings.HasPrefix(r.location, "https://a.example/callback?") {
		t.Fatalf("provider: %d %q", r.status, r.location)
	}
	r = get(t, c, r.location)
	if s := cookieNamed(r.cookies, auth.SessionCookie); r.status != 303 || s == nil || !s.Secure || !s.HttpOnly || s.SameSite != http.SameSiteLaxMode {
		t.Fatalf("callback over TLS: %d %s, session cookie %+v; want Secure, HttpOnly, Lax", r.status, r.body, s)
	}
}

// A plain OAuth2 login (explicit endpoints, no discovery, no ID token)
// takes the user from the userinfo endpoint.
func TestOAuth2UserinfoLogin(t *testing.T) {
	f := newOIDCFixture(t, map[string]string{})
	f.setLogins(t, f.login("a", func(l *auth.Login) {
		l.Provider, l.Issuer, l.Generation = "oauth2", "", "plain"
		l.AuthURL, l.TokenURL, l.UserinfoURL = f.op.AuthorizationEndpoint(), f.op.TokenEndpoint(), f.op.UserinfoEndpoint()
		l.Scopes = []string{"openid", "email"}
	}))
	c := f.browser()
	if r := get(t, c, f.toCallback(t, c, "a.example")); r.status != 303 {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	r := get(t, c, "http://a.example/v1/models", "Accept", "application/json")
	var e echo
	if r.status != 200 || json.Unmarshal([]byte(r.body), &e) != nil || len(e.User) != 1 || e.User[0] != "oidc:jane.doe@example.com" {
		t.Fatalf("signed in with oauth2: %d %s, want the userinfo's email as the user", r.status, r.body)
	}
	if n := f.seen.get("a/oauth2/ok"); n != 1 {
		t.Errorf("oauth2 sign-ins counted %d, want 1", n)
	}
}

// A namespace that lost its callback's host cannot finish a sign-in:
// browsers go to the key page instead of a provider that would send them
// back to nothing.
func TestOIDCWithoutTheCallbackHost(t *testing.T) {
	f := newOIDCFixture(t, map[string]string{})
	a := f.r.table.Load().byName["a"]
	f.w.ns <- store.Event{Type: store.EventPut, Name: "a", Namespace: namespace.Namespace{
		Spec:   namespace.Spec{Name: "a", Hostnames: []string{"a2.example"}},
		Status: namespace.Status{Phase: namespace.PhaseRunning, Address: a.address}}}
	eventually(t, "a.example no longer routes", func() bool { return f.r.table.Load().byHost["a.example"] == nil })
	if r := get(t, f.browser(), "http://a2.example/"); r.status != 303 || r.location != loginPath {
		t.Fatalf("browser on a2 while a lacks its callback's host: %d %q, want 303 to %s", r.status, r.location, loginPath)
	}
	if rec := f.do("a2.example"); rec.Code != 401 {
		t.Fatalf("no credential: %d, want 401", rec.Code)
	}
}

// Two tabs signing in at once each finish: every flow has its own cookie.
func TestOIDCTwoTabs(t *testing.T) {
	f := newOIDCFixture(t, map[string]string{})
	c := f.browser()
	first := f.toCallback(t, c, "a.example")
	second := f.toCallback(t, c, "a.example")
	for i, cb := range []string{first, second} {
		if r := get(t, c, cb); r.status != 303 || cookieNamed(r.cookies, auth.SessionCookie) == nil {
			t.Fatalf("tab %d's callback: %d %s", i+1, r.status, r.body)
		}
	}
	// Neither flow cookie is left behind.
	if fl := flowCookie(c.Jar.Cookies(&url.URL{Scheme: "http", Host: "a.example", Path: "/"})); fl != nil {
		t.Errorf("flow cookie %s left after both callbacks", fl.Name)
	}
}

// A provider that cannot be reached gets the browser a page saying so, and
// the attempt is counted.
func TestOIDCProviderDown(t *testing.T) {
	f := newOIDCFixture(t, map[string]string{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/oidc"
	ln.Close() // nothing listens there now
	f.setLogins(t, f.login("a", func(l *auth.Login) { l.Issuer, l.Generation = down, "down" }))
	r := get(t, f.browser(), "http://a.example"+startPath)
	if r.status != 502 || !strings.Contains(r.body, "cannot be reached") {
		t.Fatalf("start with the provider down: %d %s, want 502", r.status, r.body)
	}
	if n := f.seen.get("a/oidc/" + auth.OutcomeUnavailable); n != 1 {
		t.Errorf("unavailable counted %d, want 1", n)
	}
}
