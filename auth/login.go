// Package auth signs a namespace's people in with the namespace's own
// identity provider: the operator stores one login per namespace (an OAuth
// 2.0 client, with OpenID Connect discovery or explicit endpoints), and the
// router runs the authorization-code flow with PKCE, state and nonce for
// browsers on the namespace's hostnames, keeping who came in in a sealed,
// expiring session cookie bound to the namespace.
package auth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Providers are the kinds of login: "oidc" (ID token, discovery from the
// issuer) and "oauth2" (discovery with an issuer, else explicit endpoints
// and the user from the userinfo endpoint).
var Providers = []string{"oidc", "oauth2"}

// Login is one namespace's sign-in as stored: the client secret only
// sealed (see SecretContext).
type Login struct {
	Namespace    string   `json:"namespace"`
	Provider     string   `json:"provider"`
	ClientID     string   `json:"clientId"`
	SealedSecret string   `json:"sealedSecret"`
	CallbackURL  string   `json:"callbackUrl"`
	Issuer       string   `json:"issuer,omitempty"`
	AuthURL      string   `json:"authUrl,omitempty"`
	TokenURL     string   `json:"tokenUrl,omitempty"`
	UserinfoURL  string   `json:"userinfoUrl,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	// AllowedDomains and AllowedEmails, both empty, let in whoever the
	// provider signs in; else the user's email must match one of them.
	AllowedDomains []string `json:"allowedDomains,omitempty"`
	AllowedEmails  []string `json:"allowedEmails,omitempty"`
	// Generation changes on every configure: sessions of an older
	// configuration (another provider, narrower domains) are void.
	Generation string    `json:"generation"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// SecretContext is the sealing context of a namespace's client secret, so
// a sealed secret copied to another namespace's record does not open.
func SecretContext(ns string) string { return "login/" + ns + "/client-secret" }

// DefaultScopes are asked for when a login names none and has an issuer.
var DefaultScopes = []string{"openid", "email", "profile"}

// Normalize trims and lowercases what is compared, and fills defaults.
func (l *Login) Normalize() {
	l.Provider = strings.ToLower(strings.TrimSpace(l.Provider))
	// The issuer is kept as given: discovery wants it exact, and some
	// providers' issuers end with a slash.
	l.Issuer = strings.TrimSpace(l.Issuer)
	l.CallbackURL = strings.TrimSpace(l.CallbackURL)
	for i, d := range l.AllowedDomains {
		l.AllowedDomains[i] = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(d)), "@")
	}
	for i, e := range l.AllowedEmails {
		l.AllowedEmails[i] = strings.ToLower(strings.TrimSpace(e))
	}
	l.AllowedDomains = slices.DeleteFunc(l.AllowedDomains, func(s string) bool { return s == "" })
	l.AllowedEmails = slices.DeleteFunc(l.AllowedEmails, func(s string) bool { return s == "" })
	if len(l.Scopes) == 0 && (l.Provider == "oidc" || l.Issuer != "") {
		l.Scopes = slices.Clone(DefaultScopes)
	}
}

// Validate refuses a login that can never work; one that only lacks its
// endpoints is valid (see Missing).
func (l *Login) Validate() error {
	if !slices.Contains(Providers, l.Provider) {
		return fmt.Errorf("--provider %q: want one of %s", l.Provider, strings.Join(Providers, ", "))
	}
	if strings.TrimSpace(l.ClientID) == "" {
		return errors.New("--client-id is required")
	}
	cb, err := url.Parse(l.CallbackURL)
	if err != nil || (cb.Scheme != "https" && cb.Scheme != "http") || cb.Hostname() == "" || cb.User != nil {
		return fmt.Errorf("--callback-url %q: want an absolute http(s) URL such as https://tenant-a.example.com/callback", l.CallbackURL)
	}
	if cb.RawQuery != "" || cb.Fragment != "" {
		return fmt.Errorf("--callback-url %q: no query or fragment, the provider adds its own", l.CallbackURL)
	}
	if cb.Path == "" || cb.Path == "/" {
		return fmt.Errorf("--callback-url %q: give it a path of its own (e.g. /callback); the gateway does not see that path on this host", l.CallbackURL)
	}
	for _, u := range []struct{ flag, v string }{{"--issuer", l.Issuer}, {"--auth-url", l.AuthURL}, {"--token-url", l.TokenURL}, {"--userinfo-url", l.UserinfoURL}} {
		if u.v == "" {
			continue
		}
		if err := checkEndpoint(u.v); err != nil {
			return fmt.Errorf("%s %q: %w", u.flag, u.v, err)
		}
	}
	if l.Provider == "oidc" && l.Issuer == "" && (l.AuthURL != "" || l.TokenURL != "" || l.UserinfoURL != "") {
		return errors.New("--provider=oidc takes its endpoints from --issuer (discovery); use --provider=oauth2 for explicit --auth-url/--token-url/--userinfo-url")
	}
	for _, d := range l.AllowedDomains {
		if strings.ContainsAny(d, "@ /") || !strings.Contains(d, ".") {
			return fmt.Errorf("--allowed-domains: %q is not a domain (example.com)", d)
		}
	}
	for _, e := range l.AllowedEmails {
		if i := strings.LastIndexByte(e, '@'); i <= 0 || i == len(e)-1 {
			return fmt.Errorf("--allowed-emails: %q is not an email address", e)
		}
	}
	return nil
}

// checkEndpoint wants https, or http to this machine (a provider in a test
// or on the host itself): credentials never cross a network in the clear.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" || strings.HasSuffix(h, ".localhost") {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
		return errors.New("use https (plain http only to this machine)")
	}
	return errors.New("use https")
}

// Missing says what the login still needs before it can take effect: the
// guide's command names no endpoints.
func (l *Login) Missing() []string {
	if l.Issuer != "" {
		return nil
	}
	if l.Provider == "oidc" {
		return []string{"--issuer"}
	}
	var m []string
	for _, u := range []struct{ flag, v string }{{"--auth-url", l.AuthURL}, {"--token-url", l.TokenURL}, {"--userinfo-url", l.UserinfoURL}} {
		if u.v == "" {
			m = append(m, u.flag)
		}
	}
	if len(m) > 0 {
		return []string{"--issuer, or " + strings.Join(m, ", ")}
	}
	return nil
}

// CallbackHost is the callback URL's host, lowercased, without port: it
// must be one of the namespace's hostnames.
func (l *Login) CallbackHost() string {
	u, err := url.Parse(l.CallbackURL)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
}

// CallbackOrigin is the callback URL's scheme and authority
// (https://tenant-a.app.com), where a sign-in must start: its flow cookie
// has to be there when the provider sends the browser back.
func (l *Login) CallbackOrigin() string {
	u, err := url.Parse(l.CallbackURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// CallbackPath is the callback URL's path, which the router answers on the
// callback host.
func (l *Login) CallbackPath() string {
	u, err := url.Parse(l.CallbackURL)
	if err != nil {
		return ""
	}
	return u.EscapedPath()
}

// Allowed reports whether the user with this email may sign in.
func (l *Login) Allowed(email string) bool {
	if len(l.AllowedDomains) == 0 && len(l.AllowedEmails) == 0 {
		return true
	}
	email = strings.ToLower(email)
	if email == "" {
		return false
	}
	if slices.Contains(l.AllowedEmails, email) {
		return true
	}
	i := strings.LastIndexByte(email, '@')
	return i > 0 && slices.Contains(l.AllowedDomains, email[i+1:])
}
