package store

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Dynamic config values are stored as given: the config package owns their
// format and validation, the store only keeps and watches them.

func configKey(key string) string { return configPrefix + key }

func checkConfigKey(key string) error {
	if key == "" || strings.ContainsRune(key, 0) {
		return fmt.Errorf("invalid config key %q", key)
	}
	return nil
}

// SetConfig stores a dynamic config value.
func (s *Store) SetConfig(ctx context.Context, key, value string) error {
	if err := checkConfigKey(key); err != nil {
		return fmt.Errorf("setting config: %w", err)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if _, err := s.cli.Put(ctx, configKey(key), value); err != nil {
		return fmt.Errorf("setting config %s: %w", key, err)
	}
	return nil
}

// GetConfig returns a dynamic config value, or ErrNotFound.
func (s *Store) GetConfig(ctx context.Context, key string) (string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, configKey(key))
	if err != nil {
		return "", fmt.Errorf("getting config %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("getting config %s: config key %w", key, ErrNotFound)
	}
	return string(resp.Kvs[0].Value), nil
}

// ListConfig returns every dynamic config value by key.
func (s *Store) ListConfig(ctx context.Context) (map[string]string, error) {
	_, kvs, err := s.list(ctx, configPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing config: %w", err)
	}
	return configMap(kvs), nil
}

// DeleteConfig removes a dynamic config value, or returns ErrNotFound.
func (s *Store) DeleteConfig(ctx context.Context, key string) error {
	return s.deleteOne(ctx, configKey(key), "deleting config "+key, fmt.Sprintf("deleting config %s: config key", key))
}

func configMap(kvs []*mvccpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[strings.TrimPrefix(string(kv.Key), configPrefix)] = string(kv.Value)
	}
	return m
}

// WatchConfig sends the full config map at start and after every change
// until ctx ends, then closes the channel. Only the newest map matters, so
// a map the consumer has not taken yet is replaced rather than queued.
func (s *Store) WatchConfig(ctx context.Context) <-chan map[string]string {
	out := newLatest[map[string]string]()
	log := s.log.Named("watch_config")
	go func() {
		defer close(out.ch)
		var cur map[string]string
		// Each map sent is a fresh copy: the consumer owns what it receives.
		publish := func() bool { return out.publish(ctx, maps.Clone(cur)) }
		s.follow(ctx, configPrefix, log,
			func(kvs []*mvccpb.KeyValue) bool {
				cur = configMap(kvs)
				return publish()
			},
			func(evs []*clientv3.Event) bool {
				for _, ev := range evs {
					k := strings.TrimPrefix(string(ev.Kv.Key), configPrefix)
					if ev.Type == clientv3.EventTypeDelete {
						delete(cur, k)
					} else {
						cur[k] = string(ev.Kv.Value)
					}
				}
				return publish()
			})
	}()
	return out.ch
}
