package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/oauth2"
)

// Cookie names. All are HttpOnly, SameSite=Lax (the provider's redirect
// back is a top-level cross-site GET, which Lax lets through), Secure over
// TLS, host-only, and stripped before a request reaches a gateway. Each
// sign-in in progress has its own flow cookie (FlowCookie + "_" + the
// start of its state), so two tabs signing in at once do not undo each
// other.
const (
	SessionCookie = "clawd_session"
	FlowCookie    = "clawd_login_flow"
	// flowKeyLen is how much of the state names a flow cookie.
	flowKeyLen = 12
)

// FlowCookieFor is the name of the flow cookie of the sign-in whose
// callback carries this state.
func FlowCookieFor(state string) string {
	if len(state) > flowKeyLen {
		state = state[:flowKeyLen]
	}
	return FlowCookie + "_" + state
}

// Defaults for Options.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultFlowTTL     = 10 * time.Minute
	DefaultHTTPTimeout = 10 * time.Second
	// rediscoverAfter is how long a failed discovery is remembered before
	// the next sign-in tries again.
	rediscoverAfter = 10 * time.Second
)

// Login outcomes, as counted on /metrics.
const (
	OutcomeOK             = "ok"
	OutcomeDenied         = "denied"          // the user is not allowed in
	OutcomeInvalidState   = "invalid_state"   // forged, expired or missing state
	OutcomeReplayed       = "replayed"        // a callback seen before
	OutcomeProviderError  = "provider_error"  // the provider said no
	OutcomeExchangeFailed = "exchange_failed" // the code did not turn into tokens
	OutcomeInvalidToken   = "invalid_token"   // the ID token did not verify
	OutcomeUnavailable    = "unavailable"     // the login cannot run (incomplete, discovery failed)
)

// Box seals and opens secrets (secrets.Box).
type Box interface {
	Seal(plain []byte, context string) (string, error)
	Open(sealed, context string) ([]byte, error)
}

// Observer is told the outcome of every sign-in that reached the callback
// or failed to start.
type Observer interface {
	ObserveLogin(namespace, provider, outcome string)
}

// Watcher feeds the logins: the whole list now and after every change.
type Watcher interface {
	WatchLogins(ctx context.Context) <-chan []Login
}

// Options configure a Service.
type Options struct {
	// Box opens the stored client secrets.
	Box Box
	// Cookies seals the flow and session cookies; nil: Box. Cookies come
	// from the browser, so this should be a local key that never calls
	// out (secrets.Box.Cookies), not a key source a forged cookie would
	// make clawd ask Vault about.
	Cookies Box
	// Observer counts outcomes; nil counts nothing.
	Observer   Observer
	Logger     hclog.Logger
	SessionTTL time.Duration
	// HTTPClient talks to providers; its timeout bounds each call.
	HTTPClient *http.Client
	// Now is the clock for cookies and ID token expiry; time.Now if nil.
	Now func() time.Time
}

// Service runs every namespace's sign-in. Its methods are safe for
// concurrent use once Run has delivered the first list (Ready).
type Service struct {
	opt   Options
	log   hclog.Logger
	table atomic.Pointer[map[string]*client]
	ready chan struct{}

	mu     sync.Mutex
	used   map[string]time.Time // states of finished callbacks, until their flow would have expired
	pruned time.Time            // the last sweep of used
}

// New returns a Service; Run feeds it.
func New(opt Options) *Service {
	if opt.Logger == nil {
		opt.Logger = hclog.NewNullLogger()
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = DefaultSessionTTL
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Service{opt: opt, log: opt.Logger, ready: make(chan struct{}), used: map[string]time.Time{}}
	empty := map[string]*client{}
	s.table.Store(&empty)
	return s
}

// Ready is closed once the first list of logins is in.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Run keeps the logins in step with w until ctx ends.
func (s *Service) Run(ctx context.Context, w Watcher) {
	first := true
	for list := range w.WatchLogins(ctx) {
		s.Set(list)
		if first {
			close(s.ready)
			first = false
		}
	}
}

// Set replaces the logins; one caller at a time (Run). A namespace whose login did not change keeps
// its client (and its discovered provider).
func (s *Service) Set(list []Login) {
	old := *s.table.Load()
	next := make(map[string]*client, len(list))
	for _, l := range list {
		if c := old[l.Namespace]; c != nil && c.same(l) {
			next[l.Namespace] = c
			continue
		}
		next[l.Namespace] = s.newClient(l)
	}
	s.table.Store(&next)
}

// client is one namespace's login, ready to run.
type client struct {
	login  Login
	secret string
	// broken says why the login cannot run, when it cannot.
	broken string

	mu       sync.Mutex
	disc     *discovered
	failedAt time.Time
	failErr  error
}

type discovered struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier // nil for oauth2 without an issuer
	userinfo string
}

func (c *client) same(l Login) bool {
	a, _ := json.Marshal(c.login)
	b, _ := json.Marshal(l)
	return string(a) == string(b)
}

func (s *Service) newClient(l Login) *client {
	c := &client{login: l}
	if m := l.Missing(); len(m) > 0 {
		c.broken = "sign-in for this namespace is not finished: the operator must still set " + strings.Join(m, " ") + " (clawd auth configure)"
		return c
	}
	sec, err := s.opt.Box.Open(l.SealedSecret, SecretContext(l.Namespace))
	if err != nil {
		s.log.Error("login client secret does not open; sign-in is off", "namespace", l.Namespace, "error", err)
		c.broken = "sign-in for this namespace is misconfigured: its client secret cannot be read (configure it again)"
		return c
	}
	c.secret = string(sec)
	return c
}

func (s *Service) client(ns string) *client { return (*s.table.Load())[ns] }

// Login returns ns's login as the service runs it.
func (s *Service) Login(ns string) (Login, bool) {
	c := s.client(ns)
	if c == nil {
		return Login{}, false
	}
	return c.login, true
}

// Configured reports whether ns has a login: then nothing of it is served
// without a session or an API key.
func (s *Service) Configured(ns string) bool { return s.client(ns) != nil }

// Usable reports whether ns's login can run (it is complete and its
// secret opens); a browser without a session is sent to it.
func (s *Service) Usable(ns string) bool {
	c := s.client(ns)
	return c != nil && c.broken == ""
}

// Callback returns the host of ns's callback URL and its origin (scheme
// and authority); a sign-in started on another of the namespace's
// hostnames is sent there first.
func (s *Service) Callback(ns string) (host, origin string) {
	c := s.client(ns)
	if c == nil {
		return "", ""
	}
	return c.login.CallbackHost(), c.login.CallbackOrigin()
}

// IsCallback reports whether host and path are ns's callback.
func (s *Service) IsCallback(ns, host, path string) bool {
	c := s.client(ns)
	return c != nil && c.login.CallbackHost() == host && c.login.CallbackPath() == path
}

// discover returns the endpoints, running discovery at most once per
// rediscoverAfter while it fails. No lock is held during the HTTP calls.
func (s *Service) discover(ctx context.Context, c *client) (*discovered, error) {
	c.mu.Lock()
	d, failedAt, failErr := c.disc, c.failedAt, c.failErr
	c.mu.Unlock()
	if d != nil {
		return d, nil
	}
	if failErr != nil && s.opt.Now().Sub(failedAt) < rediscoverAfter {
		return nil, failErr
	}
	l := c.login
	d = &discovered{oauth: oauth2.Config{ClientID: l.ClientID, ClientSecret: c.secret, RedirectURL: l.CallbackURL, Scopes: l.Scopes}}
	if l.Issuer != "" {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, s.opt.HTTPClient), l.Issuer)
		if err != nil {
			err = fmt.Errorf("discovering the provider at %s: %w", l.Issuer, err)
			c.mu.Lock()
			c.failedAt, c.failErr = s.opt.Now(), err
			c.mu.Unlock()
			return nil, err
		}
		d.oauth.Endpoint = p.Endpoint()
		d.userinfo = p.UserInfoEndpoint()
		// The verifier's key set fetches with a context of its own; give
		// it our client so its calls have a deadline too.
		keyCtx := oidc.ClientContext(context.Background(), s.opt.HTTPClient)
		var claims struct {
			JWKS string `json:"jwks_uri"`
		}
		_ = p.Claims(&claims)
		keys := oidc.NewRemoteKeySet(keyCtx, claims.JWKS)
		d.verifier = oidc.NewVerifier(l.Issuer, keys, &oidc.Config{ClientID: l.ClientID, Now: s.opt.Now})
	} else {
		d.oauth.Endpoint = oauth2.Endpoint{AuthURL: l.AuthURL, TokenURL: l.TokenURL}
		d.userinfo = l.UserinfoURL
	}
	if l.AuthURL != "" {
		d.oauth.Endpoint.AuthURL = l.AuthURL
	}
	if l.TokenURL != "" {
		d.oauth.Endpoint.TokenURL = l.TokenURL
	}
	if l.UserinfoURL != "" {
		d.userinfo = l.UserinfoURL
	}
	c.mu.Lock()
	c.disc, c.failErr = d, nil
	c.mu.Unlock()
	return d, nil
}

// Refusal is a sign-in that did not succeed: the status and message for
// the browser's page, the outcome for the count.
type Refusal struct {
	Status  int
	Outcome string
	Message string
	cause   error
}

func (r *Refusal) Error() string {
	if r.cause != nil {
		return r.Message + ": " + r.cause.Error()
	}
	return r.Message
}

func (r *Refusal) Unwrap() error { return r.cause }

func refuse(status int, outcome, msg string, cause error) *Refusal {
	return &Refusal{Status: status, Outcome: outcome, Message: msg, cause: cause}
}

// flow is what the flow cookie keeps between the redirect to the provider
// and the callback.
type flow struct {
	NS       string `json:"ns"`
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	ReturnTo string `json:"rt"`
	Exp      int64  `json:"exp"`
}

// session is what the session cookie keeps.
type session struct {
	NS   string `json:"ns"`
	User string `json:"user"`
	Gen  string `json:"gen"`
	Exp  int64  `json:"exp"`
}

func flowContext(ns string) string    { return "login-flow/" + ns }
func sessionContext(ns string) string { return "login-session/" + ns }

// Begin starts a sign-in to ns: it returns the provider's authorization
// URL and the flow cookie to set. returnTo is where the browser goes after
// (a path on this host; anything else becomes "/").
func (s *Service) Begin(ctx context.Context, ns, returnTo string, secure bool) (string, *http.Cookie, error) {
	c := s.client(ns)
	if c == nil {
		return "", nil, refuse(http.StatusNotFound, OutcomeUnavailable, "this namespace has no sign-in configured", nil)
	}
	if c.broken != "" {
		s.observe(c, OutcomeUnavailable)
		return "", nil, refuse(http.StatusServiceUnavailable, OutcomeUnavailable, c.broken, nil)
	}
	d, err := s.discover(ctx, c)
	if err != nil {
		s.observe(c, OutcomeUnavailable)
		s.log.Warn("sign-in unavailable", "namespace", ns, "error", err)
		return "", nil, refuse(http.StatusBadGateway, OutcomeUnavailable, "the identity provider cannot be reached; try again shortly", err)
	}
	f := flow{NS: ns, State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(),
		ReturnTo: safeReturn(returnTo), Exp: s.opt.Now().Add(DefaultFlowTTL).Unix()}
	val, err := s.seal(f, flowContext(ns))
	if err != nil {
		return "", nil, err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier)}
	if d.verifier != nil {
		opts = append(opts, oidc.Nonce(f.Nonce))
	}
	return d.oauth.AuthCodeURL(f.State, opts...), s.cookie(FlowCookieFor(f.State), val, time.Unix(f.Exp, 0), secure), nil
}

// Finish completes a sign-in at ns's callback: query is the callback's,
// flowCookie the value of the cookie FlowCookieFor(query's state). It returns the user
// ("oidc:<email or subject>"), the cookies to set (the session; the flow
// cookie cleared) and where to send the browser. Every refusal is a
// *Refusal.
func (s *Service) Finish(ctx context.Context, ns string, query url.Values, flowCookie string, secure bool) (user string, cookies []*http.Cookie, returnTo string, err error) {
	c := s.client(ns)
	if c == nil {
		return "", nil, "", refuse(http.StatusNotFound, OutcomeUnavailable, "this namespace has no sign-in configured", nil)
	}
	clear := s.cookie(FlowCookieFor(query.Get("state")), "", time.Unix(0, 0), secure)
	clear.MaxAge = -1
	user, returnTo, err = s.finish(ctx, c, query, flowCookie)
	if err != nil {
		var r *Refusal
		if !errors.As(err, &r) {
			r = refuse(http.StatusBadGateway, OutcomeExchangeFailed, "sign-in failed", err)
			err = r
		}
		s.observe(c, r.Outcome)
		s.log.Info("sign-in refused", "namespace", ns, "outcome", r.Outcome, "error", err)
		return "", []*http.Cookie{clear}, "", err
	}
	s.observe(c, OutcomeOK)
	s.log.Info("signed in", "namespace", ns, "user", user)
	exp := s.opt.Now().Add(s.opt.SessionTTL)
	val, err := s.seal(session{NS: ns, User: user, Gen: c.login.Generation, Exp: exp.Unix()}, sessionContext(ns))
	if err != nil {
		return "", nil, "", err
	}
	return user, []*http.Cookie{clear, s.cookie(SessionCookie, val, exp, secure)}, returnTo, nil
}

func (s *Service) finish(ctx context.Context, c *client, q url.Values, flowCookie string) (string, string, error) {
	ns := c.login.Namespace
	if flowCookie == "" {
		return "", "", refuse(http.StatusBadRequest, OutcomeInvalidState, "this sign-in was not started in this browser, or it took too long; start again", nil)
	}
	var f flow
	if err := s.open(flowCookie, flowContext(ns), &f); err != nil || f.NS != ns {
		return "", "", refuse(http.StatusBadRequest, OutcomeInvalidState, "this sign-in's state is not valid here; start again", err)
	}
	now := s.opt.Now()
	if now.Unix() > f.Exp {
		return "", "", refuse(http.StatusBadRequest, OutcomeInvalidState, "this sign-in took too long; start again", nil)
	}
	if st := q.Get("state"); st == "" || subtle.ConstantTimeCompare([]byte(st), []byte(f.State)) != 1 {
		return "", "", refuse(http.StatusBadRequest, OutcomeInvalidState, "the sign-in's state does not match: the link was not issued for this browser", nil)
	}
	if !s.claim(f.State, time.Unix(f.Exp, 0)) {
		return "", "", refuse(http.StatusBadRequest, OutcomeReplayed, "this sign-in has already been used; start again", nil)
	}
	if e := q.Get("error"); e != "" {
		msg := "the identity provider refused the sign-in (" + e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		return "", "", refuse(http.StatusForbidden, OutcomeProviderError, msg+")", nil)
	}
	code := q.Get("code")
	if code == "" {
		return "", "", refuse(http.StatusBadRequest, OutcomeProviderError, "the identity provider sent no code", nil)
	}
	d, err := s.discover(ctx, c)
	if err != nil {
		return "", "", refuse(http.StatusBadGateway, OutcomeUnavailable, "the identity provider cannot be reached; try again shortly", err)
	}
	hctx := oidc.ClientContext(ctx, s.opt.HTTPClient)
	tok, err := d.oauth.Exchange(hctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return "", "", refuse(http.StatusBadGateway, OutcomeExchangeFailed, "the identity provider did not accept the sign-in's code", err)
	}
	var id identity
	if d.verifier != nil {
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			return "", "", refuse(http.StatusBadGateway, OutcomeInvalidToken, "the identity provider sent no ID token", nil)
		}
		idt, err := d.verifier.Verify(hctx, raw)
		if err != nil {
			return "", "", refuse(http.StatusUnauthorized, OutcomeInvalidToken, "the identity provider's ID token is not valid", err)
		}
		if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
			return "", "", refuse(http.StatusUnauthorized, OutcomeInvalidToken, "the ID token was not issued for this sign-in (nonce)", nil)
		}
		if err := idt.Claims(&id); err != nil {
			return "", "", refuse(http.StatusUnauthorized, OutcomeInvalidToken, "the ID token's claims cannot be read", err)
		}
	} else {
		if err := s.userinfo(hctx, d, tok, &id); err != nil {
			return "", "", refuse(http.StatusBadGateway, OutcomeExchangeFailed, "the identity provider's userinfo cannot be read", err)
		}
	}
	who := id.name()
	if who == "" {
		return "", "", refuse(http.StatusUnauthorized, OutcomeInvalidToken, "the identity provider named no user", nil)
	}
	email := id.Email
	if id.EmailVerified != nil && !bool(*id.EmailVerified) {
		email = "" // an unverified address proves nothing
	}
	if !c.login.Allowed(email) {
		return "", "", refuse(http.StatusForbidden, OutcomeDenied, fmt.Sprintf("%s may not sign in to this namespace", who), nil)
	}
	return "oidc:" + who, f.ReturnTo, nil
}

// identity is the claims clawd reads, from an ID token or userinfo.
type identity struct {
	Subject       string      `json:"sub"`
	Email         string      `json:"email"`
	EmailVerified *flexBool   `json:"email_verified"`
	Login         string      `json:"login"` // GitHub-style userinfo
	ID            json.Number `json:"id"`
}

func (id identity) name() string {
	switch {
	case id.Email != "":
		return strings.ToLower(id.Email)
	case id.Subject != "":
		return id.Subject
	case id.Login != "":
		return id.Login
	}
	return id.ID.String()
}

// flexBool reads true, false, "true" and "false": providers differ.
type flexBool bool

func (b *flexBool) UnmarshalJSON(p []byte) error {
	*b = flexBool(strings.Trim(string(p), `"`) == "true")
	return nil
}

func (s *Service) userinfo(ctx context.Context, d *discovered, tok *oauth2.Token, id *identity) error {
	if d.userinfo == "" {
		return errors.New("no userinfo endpoint")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.userinfo, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	tok.SetAuthHeader(req)
	resp, err := s.opt.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("userinfo answered %s", resp.Status)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	return dec.Decode(id)
}

// Session returns the user of a session cookie valid for ns now.
func (s *Service) Session(ns, cookie string) (string, error) {
	c := s.client(ns)
	if c == nil {
		return "", errors.New("this namespace has no sign-in")
	}
	var se session
	if err := s.open(cookie, sessionContext(ns), &se); err != nil {
		return "", errors.New("the session is not valid for this host")
	}
	switch {
	case se.NS != ns:
		return "", errors.New("the session is not valid for this host")
	case se.Gen != c.login.Generation:
		return "", errors.New("the namespace's sign-in changed since; sign in again")
	case s.opt.Now().Unix() >= se.Exp:
		return "", errors.New("the session has expired; sign in again")
	}
	return se.User, nil
}

// ClearSession is the cookie that ends a session (logout).
func (s *Service) ClearSession(secure bool) *http.Cookie {
	c := s.cookie(SessionCookie, "", time.Unix(0, 0), secure)
	c.MaxAge = -1
	return c
}

// claim marks a state used; false if it was already.
func (s *Service) claim(state string, until time.Time) bool {
	now := s.opt.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Sweep at most once a minute: a burst of callbacks must not cost a
	// pass over the map each.
	if now.Sub(s.pruned) > time.Minute {
		for k, t := range s.used {
			if now.After(t) {
				delete(s.used, k)
			}
		}
		s.pruned = now
	}
	if _, seen := s.used[state]; seen {
		return false
	}
	s.used[state] = until
	return true
}

func (s *Service) observe(c *client, outcome string) {
	if s.opt.Observer != nil {
		s.opt.Observer.ObserveLogin(c.login.Namespace, c.login.Provider, outcome)
	}
}

func (s *Service) cookie(name, value string, exp time.Time, secure bool) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", Expires: exp, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
}

func (s *Service) cookieBox() Box {
	if s.opt.Cookies != nil {
		return s.opt.Cookies
	}
	return s.opt.Box
}

func (s *Service) seal(v any, context string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sealed, err := s.cookieBox().Seal(b, context)
	if err != nil {
		return "", fmt.Errorf("sealing a login cookie: %w", err)
	}
	// Cookie values had better avoid '+', '/' and '=': some clients mangle them.
	return base64.RawURLEncoding.EncodeToString([]byte(sealed)), nil
}

func (s *Service) open(val, context string, v any) error {
	sealed, err := base64.RawURLEncoding.DecodeString(val)
	if err != nil {
		return err
	}
	b, err := s.cookieBox().Open(string(sealed), context)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// safeReturn keeps a return path on this host: "/x" yes, "//evil" or
// "https://evil" no.
func safeReturn(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.HasPrefix(p, "/__clawd/") ||
		strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	return p
}
