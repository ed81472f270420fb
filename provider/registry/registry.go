// Package registry is the live view of the providers clawd holds and the
// namespaces that may use them, shared by the model gateway and the
// supervisor.
package registry

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/modelgw"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/openclawcfg"
	"github.com/clawd-dev/clawd/provider"
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
)

// Watcher is what the registry follows in the store.
type Watcher interface {
	WatchProviders(ctx context.Context) <-chan []provider.Provider
	WatchNamespaces(ctx context.Context) <-chan store.Event
}

// Sealer opens provider keys and derives the token key.
type Sealer interface {
	Open(sealed, context string) ([]byte, error)
	Derive(purpose string) []byte
}

var _ Sealer = (*secrets.Box)(nil)

// Registry is the live view of providers and namespaces the model gateway
// and the supervisor share: which upstream a request goes to, with which
// key; whose token a request carries; what each gateway's config lists.
type Registry struct {
	box      Sealer
	tokenKey []byte
	baseURL  string
	log      hclog.Logger

	mu         sync.RWMutex
	providers  []provider.Provider
	keys       map[string]string // provider → plaintext key, memory only
	namespaces map[string]namespace.Namespace
	changes    chan struct{}
	synced     chan struct{}
	syncOnce   sync.Once
}

var (
	_ modelgw.Providers     = (*Registry)(nil)
	_ modelgw.Authenticator = (*Registry)(nil)
	_ quota.Source          = (*Registry)(nil)
)

// NewRegistry returns a registry whose gateways reach the model gateway at
// baseURL (as seen from their containers).
func NewRegistry(box Sealer, baseURL string, log hclog.Logger) *Registry {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Registry{
		box: box, tokenKey: box.Derive("modelgw-token"), baseURL: baseURL, log: log,
		keys: map[string]string{}, namespaces: map[string]namespace.Namespace{},
		changes: make(chan struct{}, 1), synced: make(chan struct{}),
	}
}

// Run follows the store until ctx ends.
func (r *Registry) Run(ctx context.Context, w Watcher) {
	nsEvents := w.WatchNamespaces(ctx)
	provs := w.WatchProviders(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-nsEvents:
			if !ok {
				return
			}
			r.applyNamespace(ev)
		case ps, ok := <-provs:
			if !ok {
				return
			}
			r.setProviders(ps)
			r.syncOnce.Do(func() { close(r.synced) })
		}
	}
}

// Synced is closed once the first provider list is in.
func (r *Registry) Synced() <-chan struct{} { return r.synced }

func (r *Registry) applyNamespace(ev store.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Type {
	case store.EventReset:
		clear(r.namespaces)
		for _, ns := range ev.Snapshot {
			r.namespaces[ns.Spec.Name] = ns
		}
	case store.EventPut:
		r.namespaces[ev.Name] = ev.Namespace
	case store.EventDelete:
		delete(r.namespaces, ev.Name)
	}
}

func (r *Registry) setProviders(ps []provider.Provider) {
	keys := make(map[string]string, len(ps))
	for _, p := range ps {
		k, err := r.box.Open(p.SealedKey, provider.KeyContext(p.Name))
		if err != nil {
			r.log.Error("provider key does not open; calls to it will fail", "provider", p.Name, "error", err)
			continue
		}
		keys[p.Name] = string(k)
	}
	r.mu.Lock()
	r.providers, r.keys = ps, keys
	r.mu.Unlock()
	select {
	case r.changes <- struct{}{}:
	default:
	}
}

// Changes fires after the provider list changed.
func (r *Registry) Changes() <-chan struct{} { return r.changes }

// List returns the providers.
func (r *Registry) List() []provider.Provider {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.providers
}

// Provider implements modelgw.Providers.
func (r *Registry) Provider(name string) (modelgw.Upstream, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	key, ok := r.keys[name]
	if !ok {
		return modelgw.Upstream{}, false
	}
	for _, p := range r.providers {
		if p.Name == name {
			return modelgw.Upstream{Name: p.Name, API: modelgw.API(p.API), BaseURL: p.BaseURL, APIKey: key, Models: p.Models}, true
		}
	}
	return modelgw.Upstream{}, false
}

// Limits implements quota.Source: the quota of a namespace as this node
// last saw its spec.
func (r *Registry) Limits(ns string) quota.Limits {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if q := r.namespaces[ns].Spec.Quota; q != nil {
		return *q
	}
	return quota.Limits{}
}

// tokenPrefix starts every namespace token, so a leaked one is recognised.
const tokenPrefix = "cmt."

// Token is namespace spec's model gateway token. It is derived, not
// stored: from the namespace's name and creation time under a key derived
// from the secrets key, so a namespace deleted and made again under the
// same name gets another one, and a deleted namespace's token names no one.
func (r *Registry) Token(spec namespace.Spec) string {
	return tokenPrefix + spec.Name + "." + r.mac(spec)
}

func (r *Registry) mac(spec namespace.Spec) string {
	m := hmac.New(sha256.New, r.tokenKey)
	m.Write([]byte(spec.Name))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(spec.CreatedAt.UnixNano(), 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Authenticate implements modelgw.Authenticator: the token must be the
// namespace's, the namespace must exist, and the call must come from its
// gateway's own address, so a token copied into another tenant's
// container is useless there.
func (r *Registry) Authenticate(token string, remote netip.Addr) (string, bool) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return "", false
	}
	name, mac, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	r.mu.RLock()
	ns, ok := r.namespaces[name]
	r.mu.RUnlock()
	if !ok || ns.Spec.Deleting {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(mac), []byte(r.mac(ns.Spec))) != 1 {
		return "", false
	}
	host, _, err := net.SplitHostPort(ns.Status.Address)
	if err != nil {
		return "", false
	}
	gw, err := netip.ParseAddr(host)
	if err != nil || gw.Unmap() != remote.Unmap() {
		return "", false
	}
	return name, true
}

// Models is what namespace spec's gateway config lists: every provider,
// reached through the model gateway with the namespace's token.
func (r *Registry) Models(spec namespace.Spec) openclawcfg.Models {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := openclawcfg.Models{BaseURL: r.baseURL, Token: r.Token(spec)}
	for _, p := range r.providers {
		m.Providers = append(m.Providers, openclawcfg.Provider{Name: p.Name, API: p.API, Models: p.Models})
	}
	return m
}
