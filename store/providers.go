package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/clawd-dev/clawd/provider"
)

// Providers are stored whole, their key already sealed by the caller: the
// store never sees a plaintext secret.

func providerKey(name string) string { return providerPrefix + name }

// CreateProvider stores a new provider, or returns ErrExists.
func (s *Store) CreateProvider(ctx context.Context, p provider.Provider) error {
	if p.Name == "" || strings.ContainsAny(p.Name, "/\x00") {
		return fmt.Errorf("creating provider: invalid name %q", p.Name)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("creating provider %s: %w", p.Name, err)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(providerKey(p.Name)), "=", 0)).
		Then(clientv3.OpPut(providerKey(p.Name), string(data))).
		Commit()
	if err != nil {
		return fmt.Errorf("creating provider %s: %w", p.Name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("provider %s %w (remove it first to replace it)", p.Name, ErrExists)
	}
	return nil
}

// ListProviders returns every provider, by name.
func (s *Store) ListProviders(ctx context.Context) ([]provider.Provider, error) {
	_, kvs, err := s.list(ctx, providerPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing providers: %w", err)
	}
	return decodeProviders(kvs), nil
}

// DeleteProvider removes a provider, or returns ErrNotFound.
func (s *Store) DeleteProvider(ctx context.Context, name string) error {
	return s.deleteOne(ctx, providerKey(name), "removing provider "+name, fmt.Sprintf("removing provider %s: provider", name))
}

// WatchProviders sends the whole provider list now and after every change
// until ctx ends; a slow reader gets only the latest list.
func (s *Store) WatchProviders(ctx context.Context) <-chan []provider.Provider {
	return watchList(ctx, s, providerPrefix, "watch_providers", decodeProviders)
}

// decodeProviders is the providers in kvs by name.
func decodeProviders(kvs []*mvccpb.KeyValue) []provider.Provider {
	return decodeSorted(kvs, func(p provider.Provider) string { return p.Name })
}

// decodeSorted decodes the JSON records in kvs, drops those that do not
// decode or have no key, and sorts the rest by key.
func decodeSorted[T any](kvs []*mvccpb.KeyValue, key func(T) string) []T {
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err == nil && key(v) != "" {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return out
}

// latest is a channel of one slot where a newer value replaces one not yet
// read: watchers want the current state, not every step to it.
type latest[T any] struct{ ch chan T }

func newLatest[T any]() latest[T] { return latest[T]{ch: make(chan T, 1)} }

// publish offers v; false means ctx ended. Only one goroutine may publish.
func (l latest[T]) publish(ctx context.Context, v T) bool {
	select {
	case l.ch <- v:
		return true
	default:
	}
	select {
	case <-l.ch: // drop the stale pending value
	default:
	}
	// The only sender just emptied the buffer, so this cannot block.
	select {
	case l.ch <- v:
	case <-ctx.Done():
		return false
	}
	return true
}
