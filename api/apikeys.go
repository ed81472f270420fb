package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/clawd-dev/clawd/apikey"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/units"
)

// APIKeyStore is what the API key endpoints need from the state store. It
// is apart from Store so fakes of Store written before keys existed still
// compile; the real store has both.
type APIKeyStore interface {
	CreateAPIKey(ctx context.Context, k apikey.Key) error
	ListAPIKeys(ctx context.Context, ns string) ([]apikey.Key, error)
	RevokeAPIKey(ctx context.Context, id string) (apikey.Key, error)
}

var _ APIKeyStore = (*store.Store)(nil)

// maxKeyName bounds a key's label, which lists print in a column.
const maxKeyName = 200

// CreateAPIKeyRequest is the body of POST /api/v1/namespaces/{name}/apikeys.
// The rate and duration are the CLI's strings so both share one parser.
type CreateAPIKeyRequest struct {
	Name string `json:"name,omitempty"`
	// RateLimit is "N/period", e.g. "1000/hour"; empty is unlimited.
	RateLimit string `json:"rateLimit,omitempty"`
	// ExpiresIn is a duration such as "365d"; empty or "0" never expires.
	ExpiresIn string `json:"expiresIn,omitempty"`
}

// APIKey is a key as the API shows it: never the secret nor its hash.
type APIKey struct {
	ID         string       `json:"id"`
	Namespace  string       `json:"namespace"`
	Name       string       `json:"name,omitempty"`
	Prefix     string       `json:"prefix"`
	RateLimit  string       `json:"rateLimit,omitempty"`
	CreatedAt  time.Time    `json:"createdAt"`
	ExpiresAt  time.Time    `json:"expiresAt,omitzero"`
	RevokedAt  time.Time    `json:"revokedAt,omitzero"`
	LastUsedAt time.Time    `json:"lastUsedAt,omitzero"`
	Status     apikey.State `json:"status"`
}

// CreatedAPIKey is the reply to a create: the only time the secret is sent.
type CreatedAPIKey struct {
	Key string `json:"key"`
	APIKey
}

func viewKey(k apikey.Key, now time.Time) APIKey {
	return APIKey{
		ID: k.ID, Namespace: k.Namespace, Name: k.Name, Prefix: k.Prefix, RateLimit: k.RateLimit,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt,
		Status: k.StateAt(now),
	}
}

func (s *Server) keyStore() (APIKeyStore, error) {
	ks, ok := s.st.(APIKeyStore)
	if !ok {
		return nil, errors.New("this state store does not keep API keys")
	}
	return ks, nil
}

// keyNamespace checks that the path's namespace exists and takes keys.
func (s *Server) keyNamespace(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return "", badRequest{err}
	}
	ns, err := s.st.GetNamespace(r.Context(), name)
	if err != nil {
		return "", err
	}
	if ns.Spec.Deleting {
		return "", invalid("namespace %s is being deleted", name)
	}
	return name, nil
}

func (s *Server) createAPIKey(r *http.Request) (int, any, error) {
	ks, err := s.keyStore()
	if err != nil {
		return 0, nil, err
	}
	var req CreateAPIKeyRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	name := strings.TrimSpace(req.Name)
	if len(name) > maxKeyName {
		return 0, nil, invalid("--name is longer than %d characters", maxKeyName)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return 0, nil, invalid("--name contains control characters")
	}
	var rateLimit string
	if req.RateLimit != "" {
		rt, err := units.ParseRate(req.RateLimit)
		if err != nil {
			return 0, nil, invalid("--rate-limit: %v", err)
		}
		rateLimit = rt.String()
	}
	var ttl time.Duration
	if req.ExpiresIn != "" {
		if ttl, err = units.ParseDuration(req.ExpiresIn); err != nil {
			return 0, nil, invalid("--expires-in: %v", err)
		}
	}
	ns, err := s.keyNamespace(r)
	if err != nil {
		return 0, nil, err
	}
	now := time.Now()
	k, secret, err := apikey.New(ns, name, rateLimit, ttl, now)
	if err != nil {
		return 0, nil, err
	}
	if err := ks.CreateAPIKey(r.Context(), k); err != nil {
		return 0, nil, err
	}
	noteAudit(r, ns, k.ID)
	s.log.Info("api key created", "namespace", ns, "key_id", k.ID, "rate_limit", rateLimit, "expires_at", k.ExpiresAt)
	return http.StatusCreated, CreatedAPIKey{Key: secret, APIKey: viewKey(k, now)}, nil
}

func (s *Server) listAPIKeys(r *http.Request) (int, any, error) {
	ks, err := s.keyStore()
	if err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return 0, nil, badRequest{err}
	}
	// A typo in the name should say so, not list nothing.
	if _, err := s.st.GetNamespace(r.Context(), name); err != nil {
		return 0, nil, err
	}
	keys, err := ks.ListAPIKeys(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	now := time.Now()
	out := make([]APIKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, viewKey(k, now))
	}
	return http.StatusOK, out, nil
}

func (s *Server) revokeAPIKey(r *http.Request) (int, any, error) {
	ks, err := s.keyStore()
	if err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	if err := apikey.ValidID(id); err != nil {
		return 0, nil, badRequest{err}
	}
	k, err := ks.RevokeAPIKey(r.Context(), id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil, fmt.Errorf("API key %s does not exist (see 'clawd apikey list --namespace=…'): %w", id, store.ErrNotFound)
		}
		return 0, nil, err
	}
	noteAudit(r, k.Namespace, k.ID)
	s.log.Info("api key revoked", "namespace", k.Namespace, "key_id", k.ID)
	return http.StatusOK, viewKey(k, time.Now()), nil
}
