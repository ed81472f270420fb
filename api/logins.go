package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/auth"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// LoginStore is what the sign-in endpoints need from the state store.
type LoginStore interface {
	PutLogin(ctx context.Context, l auth.Login) error
	GetLogin(ctx context.Context, ns string) (auth.Login, error)
	DeleteLogin(ctx context.Context, ns string) error
}

var _ LoginStore = (*store.Store)(nil)

// ConfigureLoginRequest is the body of PUT /api/v1/namespaces/{name}/auth.
// ClientSecret may be left out to keep the stored one.
type ConfigureLoginRequest struct {
	Provider       string   `json:"provider"`
	ClientID       string   `json:"clientId"`
	ClientSecret   string   `json:"clientSecret,omitempty"`
	CallbackURL    string   `json:"callbackUrl"`
	Issuer         string   `json:"issuer,omitempty"`
	AuthURL        string   `json:"authUrl,omitempty"`
	TokenURL       string   `json:"tokenUrl,omitempty"`
	UserinfoURL    string   `json:"userinfoUrl,omitempty"`
	Scopes         []string `json:"scopes,omitempty"`
	AllowedDomains []string `json:"allowedDomains,omitempty"`
	AllowedEmails  []string `json:"allowedEmails,omitempty"`
}

// Login is a namespace's sign-in as the API shows it: never its secret.
type Login struct {
	Namespace      string   `json:"namespace"`
	Provider       string   `json:"provider"`
	ClientID       string   `json:"clientId"`
	CallbackURL    string   `json:"callbackUrl"`
	Issuer         string   `json:"issuer,omitempty"`
	AuthURL        string   `json:"authUrl,omitempty"`
	TokenURL       string   `json:"tokenUrl,omitempty"`
	UserinfoURL    string   `json:"userinfoUrl,omitempty"`
	Scopes         []string `json:"scopes,omitempty"`
	AllowedDomains []string `json:"allowedDomains,omitempty"`
	AllowedEmails  []string `json:"allowedEmails,omitempty"`
	// Missing names what the login still needs before it takes effect.
	Missing []string `json:"missing,omitempty"`
	// Active is true when browsers are sent to the provider.
	Active bool `json:"active"`
	// HostnameAdded is the callback's host when configure made it one of
	// the namespace's hostnames.
	HostnameAdded string    `json:"hostnameAdded,omitempty"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

func showLogin(l auth.Login) Login {
	m := l.Missing()
	return Login{Namespace: l.Namespace, Provider: l.Provider, ClientID: l.ClientID, CallbackURL: l.CallbackURL,
		Issuer: l.Issuer, AuthURL: l.AuthURL, TokenURL: l.TokenURL, UserinfoURL: l.UserinfoURL, Scopes: l.Scopes,
		AllowedDomains: l.AllowedDomains, AllowedEmails: l.AllowedEmails, Missing: m, Active: len(m) == 0, UpdatedAt: l.UpdatedAt}
}

func (s *Server) loginStore() (LoginStore, error) {
	ls, ok := s.st.(LoginStore)
	if !ok || s.cfg.Secrets == nil {
		return nil, errors.New("this server keeps no sign-ins")
	}
	return ls, nil
}

func (s *Server) configureLogin(r *http.Request) (int, any, error) {
	ls, err := s.loginStore()
	if err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	var req ConfigureLoginRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if _, err := s.st.GetNamespace(r.Context(), name); err != nil {
		return 0, nil, err
	}
	l := auth.Login{Namespace: name, Provider: req.Provider, ClientID: strings.TrimSpace(req.ClientID), CallbackURL: req.CallbackURL,
		Issuer: req.Issuer, AuthURL: req.AuthURL, TokenURL: req.TokenURL, UserinfoURL: req.UserinfoURL,
		Scopes: req.Scopes, AllowedDomains: req.AllowedDomains, AllowedEmails: req.AllowedEmails}
	l.Normalize()
	if err := l.Validate(); err != nil {
		return 0, nil, badRequest{err}
	}
	host, err := namespace.NormalizeHostname(l.CallbackHost())
	if err != nil {
		return 0, nil, invalid("--callback-url: %v", err)
	}
	if req.ClientSecret != "" {
		if l.SealedSecret, err = s.sealSecret(r.Context(), name, "client secret", []byte(req.ClientSecret), auth.SecretContext(name)); err != nil {
			return 0, nil, err
		}
	} else {
		old, err := ls.GetLogin(r.Context(), name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return 0, nil, invalid("--client-secret is required (it is stored encrypted and never shown again)")
		case err != nil:
			return 0, nil, err
		}
		l.SealedSecret = old.SealedSecret
	}
	// The callback's host must route to this namespace: the guide
	// configures the login before any hostname.
	added := ""
	if _, err := s.st.UpdateSpec(r.Context(), name, func(sp *namespace.Spec) error {
		added = ""
		if !slices.Contains(sp.Hostnames, host) {
			sp.Hostnames = append(sp.Hostnames, host)
			added = host
		}
		return nil
	}); err != nil {
		return 0, nil, err
	}
	l.Generation = randomHex(8)
	l.UpdatedAt = time.Now().UTC()
	if err := ls.PutLogin(r.Context(), l); err != nil {
		return 0, nil, err
	}
	s.log.Info("sign-in configured", "namespace", name, "provider", l.Provider, "issuer", l.Issuer, "callback_url", l.CallbackURL,
		"hostname_added", added, "missing", strings.Join(l.Missing(), " "))
	v := showLogin(l)
	v.HostnameAdded = added
	return http.StatusOK, v, nil
}

func (s *Server) getLogin(r *http.Request) (int, any, error) {
	ls, err := s.loginStore()
	if err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	l, err := ls.GetLogin(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	v := showLogin(l)
	// The callback only works on one of the namespace's hostnames.
	if ns, err := s.st.GetNamespace(r.Context(), name); err == nil && !slices.Contains(ns.Spec.Hostnames, l.CallbackHost()) {
		v.Missing = append(v.Missing, fmt.Sprintf("the callback's host %s as a hostname of the namespace (it was removed; configure again)", l.CallbackHost()))
		v.Active = false
	}
	return http.StatusOK, v, nil
}

func (s *Server) removeLogin(r *http.Request) (int, any, error) {
	ls, err := s.loginStore()
	if err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	if err := ls.DeleteLogin(r.Context(), name); err != nil {
		return 0, nil, err
	}
	s.log.Info("sign-in removed", "namespace", name)
	return http.StatusNoContent, nil, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
