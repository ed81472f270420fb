package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/provider"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/usage"
)

// ProviderStore is what the provider endpoints need from the state store.
type ProviderStore interface {
	CreateProvider(ctx context.Context, p provider.Provider) error
	ListProviders(ctx context.Context) ([]provider.Provider, error)
	DeleteProvider(ctx context.Context, name string) error
}

var _ ProviderStore = (*store.Store)(nil)

// Sealer encrypts a secret before it is stored (secrets.Box).
type Sealer interface {
	SealWith(ctx context.Context, algorithm string, plain []byte, context string) (string, error)
}

// UsageToday reads a namespace's model calls and tokens today.
type UsageToday interface {
	Today(ctx context.Context, namespace string) ([]usage.Model, error)
	// TodayAll is Today for every namespace with calls today.
	TodayAll(ctx context.Context) (map[string][]usage.Model, error)
}

// AddProviderRequest is the body of POST /api/v1/providers.
type AddProviderRequest struct {
	Name    string   `json:"name"`
	API     string   `json:"api"`
	BaseURL string   `json:"baseUrl"`
	APIKey  string   `json:"apiKey"`
	Models  []string `json:"models"`
}

// Provider is a provider as the API shows it: never its key.
type Provider struct {
	Name      string    `json:"name"`
	API       string    `json:"api"`
	BaseURL   string    `json:"baseUrl"`
	Models    []string  `json:"models"`
	CreatedAt time.Time `json:"createdAt"`
}

func showProvider(p provider.Provider) Provider {
	return Provider{Name: p.Name, API: p.API, BaseURL: p.BaseURL, Models: p.Models, CreatedAt: p.CreatedAt}
}

func (s *Server) providerStore() (ProviderStore, error) {
	ps, ok := s.st.(ProviderStore)
	if !ok || s.cfg.Secrets == nil {
		return nil, errors.New("this server keeps no providers")
	}
	return ps, nil
}

func (s *Server) addProvider(r *http.Request) (int, any, error) {
	ps, err := s.providerStore()
	if err != nil {
		return 0, nil, err
	}
	var req AddProviderRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	req.BaseURL = strings.TrimRight(req.BaseURL, "/")
	if err := provider.Validate(req.Name, req.API, req.BaseURL, req.APIKey, req.Models); err != nil {
		return 0, nil, badRequest{err}
	}
	sealed, err := s.sealSecret(r.Context(), "", "provider key", []byte(req.APIKey), provider.KeyContext(req.Name))
	if err != nil {
		return 0, nil, err
	}
	p := provider.Provider{Name: req.Name, API: req.API, BaseURL: req.BaseURL, Models: req.Models, SealedKey: sealed, CreatedAt: time.Now().UTC()}
	if err := ps.CreateProvider(r.Context(), p); err != nil {
		return 0, nil, err
	}
	s.log.Info("provider added", "provider", p.Name, "api", p.API, "base_url", p.BaseURL, "models", strings.Join(p.Models, ","))
	return http.StatusCreated, showProvider(p), nil
}

func (s *Server) listProviders(r *http.Request) (int, any, error) {
	ps, err := s.providerStore()
	if err != nil {
		return 0, nil, err
	}
	list, err := ps.ListProviders(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := make([]Provider, 0, len(list))
	for _, p := range list {
		out = append(out, showProvider(p))
	}
	return http.StatusOK, out, nil
}

func (s *Server) removeProvider(r *http.Request) (int, any, error) {
	ps, err := s.providerStore()
	if err != nil {
		return 0, nil, err
	}
	name := r.PathValue("name")
	list, err := ps.ListProviders(r.Context())
	if err != nil {
		return 0, nil, err
	}
	i := slices.IndexFunc(list, func(p provider.Provider) bool { return p.Name == name })
	if i < 0 {
		return 0, nil, fmt.Errorf("provider %s: %w (see clawd provider list)", name, store.ErrNotFound)
	}
	rest := slices.Delete(slices.Clone(list), i, i+1)
	users, err := s.modelUsers(r.Context(), rest)
	if err != nil {
		return 0, nil, err
	}
	if len(users) > 0 {
		return 0, nil, conflict{fmt.Errorf("provider %s is used by %s: set their models to another provider's first", name, strings.Join(users, "; "))}
	}
	if err := ps.DeleteProvider(r.Context(), name); err != nil {
		return 0, nil, err
	}
	s.log.Info("provider removed", "provider", name)
	return http.StatusNoContent, nil, nil
}

// modelUsers lists the models.primary|fallback settings (per namespace
// and the namespaces.* default) that providers could no longer serve.
func (s *Server) modelUsers(ctx context.Context, providers []provider.Provider) ([]string, error) {
	values, err := s.st.ListConfig(ctx)
	if err != nil {
		return nil, err
	}
	var users []string
	for key, v := range values {
		if !strings.HasSuffix(key, ".models.primary") && !strings.HasSuffix(key, ".models.fallback") {
			continue
		}
		if _, err := provider.Resolve(v, providers); err != nil {
			ns := strings.TrimPrefix(strings.TrimSuffix(strings.TrimSuffix(key, ".models.primary"), ".models.fallback"), "namespaces.")
			if ns == "*" {
				ns = "every namespace (namespaces.*)"
			} else {
				ns = "namespace " + ns
			}
			users = append(users, fmt.Sprintf("%s (%s %s)", ns, key, v))
		}
	}
	slices.Sort(users)
	return users, nil
}

// checkModel refuses a models.primary|fallback value no provider offers,
// when this server keeps providers.
func (s *Server) checkModel(ctx context.Context, k config.Key, value string) error {
	if k.Leaf() != "models.primary" && k.Leaf() != "models.fallback" {
		return nil
	}
	ps, err := s.providerStore()
	if err != nil {
		return nil
	}
	list, err := ps.ListProviders(ctx)
	if err != nil {
		return err
	}
	if _, err := provider.Resolve(value, list); err != nil {
		return badRequest{err}
	}
	return nil
}
