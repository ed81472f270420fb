package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/apikey"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// API key layout: the record by id, and an index from the secret's hash to
// the id. Neither holds the secret. The two prefixes do not nest, so a
// watch of one never sees the other.
const (
	apikeyPrefix     = keyPrefix + "apikeys/"
	apikeyHashPrefix = keyPrefix + "apikeyhash/"
)

// maxKeysPerTxn bounds how many keys one txn deletes: etcd refuses txns of
// more than 128 operations (--max-txn-ops), and each key takes two.
const maxKeysPerTxn = 40

func apikeyKey(id string) string       { return apikeyPrefix + id }
func apikeyHashKey(hash string) string { return apikeyHashPrefix + hash }

// checkAPIKey keeps a record's id and hash from escaping their prefixes.
func checkAPIKey(k apikey.Key) error {
	if err := apikey.ValidID(k.ID); err != nil {
		return err
	}
	if err := checkName(k.Namespace); err != nil {
		return err
	}
	if len(k.Hash) != 64 || strings.Trim(k.Hash, "0123456789abcdef") != "" {
		return fmt.Errorf("invalid API key hash: want 64 lowercase hex digits")
	}
	return nil
}

// CreateAPIKey stores a new key record and its hash index in one txn, only
// while the key's namespace exists. It fails with ErrExists when the id or
// hash is taken and ErrNotFound when the namespace is gone.
func (s *Store) CreateAPIKey(ctx context.Context, k apikey.Key) error {
	if err := checkAPIKey(k); err != nil {
		return fmt.Errorf("creating API key: %w", err)
	}
	data, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("creating API key %s: encoding: %w", k.ID, err)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(
			clientv3.Compare(clientv3.CreateRevision(apikeyKey(k.ID)), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(apikeyHashKey(k.Hash)), "=", 0),
			// A key created after its namespace's delete txn would outlive it.
			clientv3.Compare(clientv3.CreateRevision(specKey(k.Namespace)), ">", 0),
		).
		Then(clientv3.OpPut(apikeyKey(k.ID), string(data)), clientv3.OpPut(apikeyHashKey(k.Hash), k.ID)).
		Else(clientv3.OpGet(apikeyKey(k.ID)), clientv3.OpGet(apikeyHashKey(k.Hash)), clientv3.OpGet(specKey(k.Namespace))).
		Commit()
	if err != nil {
		return fmt.Errorf("creating API key %s: %w", k.ID, err)
	}
	if resp.Succeeded {
		return nil
	}
	switch {
	case len(resp.Responses[0].GetResponseRange().Kvs) > 0:
		return fmt.Errorf("creating API key %s: id %w", k.ID, ErrExists)
	case len(resp.Responses[1].GetResponseRange().Kvs) > 0:
		return fmt.Errorf("creating API key %s: a key with the same secret %w", k.ID, ErrExists)
	case len(resp.Responses[2].GetResponseRange().Kvs) == 0:
		return fmt.Errorf("creating API key %s: namespace %s %w", k.ID, k.Namespace, ErrNotFound)
	}
	return fmt.Errorf("creating API key %s: transaction refused for no visible reason", k.ID)
}

// GetAPIKey returns a key record by id.
func (s *Store) GetAPIKey(ctx context.Context, id string) (apikey.Key, error) {
	k, _, err := s.getAPIKey(ctx, id)
	if err != nil {
		return apikey.Key{}, fmt.Errorf("getting API key %s: %w", id, err)
	}
	return k, nil
}

// getAPIKey reads a record and its mod revision, for guarded updates.
func (s *Store) getAPIKey(ctx context.Context, id string) (apikey.Key, int64, error) {
	if err := apikey.ValidID(id); err != nil {
		return apikey.Key{}, 0, err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, apikeyKey(id))
	if err != nil {
		return apikey.Key{}, 0, err
	}
	if len(resp.Kvs) == 0 {
		return apikey.Key{}, 0, fmt.Errorf("API key %w", ErrNotFound)
	}
	var k apikey.Key
	if err := json.Unmarshal(resp.Kvs[0].Value, &k); err != nil {
		return apikey.Key{}, 0, fmt.Errorf("decoding: %w", err)
	}
	return k, resp.Kvs[0].ModRevision, nil
}

// FindAPIKey returns the record of the key whose secret hashes to hash.
func (s *Store) FindAPIKey(ctx context.Context, hash string) (apikey.Key, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, apikeyHashKey(hash))
	if err != nil {
		return apikey.Key{}, fmt.Errorf("finding API key by hash: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return apikey.Key{}, fmt.Errorf("finding API key by hash: API key %w", ErrNotFound)
	}
	return s.GetAPIKey(ctx, string(resp.Kvs[0].Value))
}

// ListAPIKeys returns the keys of namespace ns (every key when ns is
// empty), oldest first, revoked ones included.
func (s *Store) ListAPIKeys(ctx context.Context, ns string) ([]apikey.Key, error) {
	_, kvs, err := s.list(ctx, apikeyPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing API keys: %w", err)
	}
	out := []apikey.Key{}
	for _, kv := range kvs {
		k, err := decodeAPIKey(kv)
		if err != nil {
			return nil, fmt.Errorf("listing API keys: %w", err)
		}
		if ns == "" || k.Namespace == ns {
			out = append(out, k)
		}
	}
	sortKeys(out)
	return out, nil
}

func sortKeys(keys []apikey.Key) {
	slices.SortFunc(keys, func(a, b apikey.Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func decodeAPIKey(kv *mvccpb.KeyValue) (apikey.Key, error) {
	var k apikey.Key
	if err := json.Unmarshal(kv.Value, &k); err != nil {
		return k, fmt.Errorf("decoding %s: %w", kv.Key, err)
	}
	return k, nil
}

// RevokeAPIKey marks a key revoked and returns the record. The record and
// its hash index stay for audit; a revoked key is refused like an unknown
// one. Revoking twice keeps the first time.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) (apikey.Key, error) {
	k, err := s.updateAPIKey(ctx, id, func(k *apikey.Key) bool {
		if !k.RevokedAt.IsZero() {
			return false
		}
		k.RevokedAt = time.Now().UTC()
		return true
	})
	if err != nil {
		return apikey.Key{}, fmt.Errorf("revoking API key %s: %w", id, err)
	}
	return k, nil
}

// TouchAPIKey records that the key was used at at, unless a later use is
// already recorded. Callers batch: it is one etcd write, and every watcher
// of keys sees it.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	at = at.UTC()
	_, err := s.updateAPIKey(ctx, id, func(k *apikey.Key) bool {
		if !at.After(k.LastUsedAt) {
			return false
		}
		k.LastUsedAt = at
		return true
	})
	if err != nil {
		return fmt.Errorf("recording use of API key %s: %w", id, err)
	}
	return nil
}

// updateAPIKey applies fn and writes the record if fn changed it and
// nobody wrote it in between, retrying otherwise.
func (s *Store) updateAPIKey(ctx context.Context, id string, fn func(*apikey.Key) bool) (apikey.Key, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	for {
		k, rev, err := s.getAPIKey(ctx, id)
		if err != nil {
			return apikey.Key{}, err
		}
		if !fn(&k) {
			return k, nil
		}
		data, err := json.Marshal(k)
		if err != nil {
			return apikey.Key{}, fmt.Errorf("encoding: %w", err)
		}
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(apikeyKey(id)), "=", rev)).
			Then(clientv3.OpPut(apikeyKey(id), string(data))).
			Commit()
		if err != nil {
			return apikey.Key{}, err
		}
		if resp.Succeeded {
			return k, nil
		}
		// Lost a race (another node's touch, a revoke): apply fn again.
	}
}

// deleteAPIKeyOps deletes keys and their hash index entries; an index
// entry is deleted only if it still names the key.
func deleteAPIKeyOps(keys []apikey.Key) []clientv3.Op {
	ops := make([]clientv3.Op, 0, 2*len(keys))
	for _, k := range keys {
		hk := apikeyHashKey(k.Hash)
		ops = append(ops, clientv3.OpDelete(apikeyKey(k.ID)), clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.Value(hk), "=", k.ID)},
			[]clientv3.Op{clientv3.OpDelete(hk)},
			nil,
		))
	}
	return ops
}

// namespaceKeys picks namespace ns's keys out of a listing of apikeyPrefix.
// An undecodable record is skipped: it cannot name its namespace.
func (s *Store) namespaceKeys(kvs []*mvccpb.KeyValue, ns string) []apikey.Key {
	var out []apikey.Key
	for _, kv := range kvs {
		k, err := decodeAPIKey(kv)
		if err != nil {
			s.log.Warn("skipping undecodable API key", "error", err)
			continue
		}
		if k.Namespace == ns {
			out = append(out, k)
		}
	}
	return out
}

// noKeysCreatedSince guards a txn against API keys created after rev, the
// revision a listing of keys was read at.
func noKeysCreatedSince(rev int64) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(apikeyPrefix), "<", rev+1).WithPrefix()
}

// APIKeyEvent is one change to the set of API keys.
type APIKeyEvent struct {
	Type EventType
	// ID is set for Put and Delete.
	ID string
	// Key is the record after a Put.
	Key apikey.Key
	// Snapshot is every key, oldest first, for a Reset.
	Snapshot []apikey.Key
}

// WatchAPIKeys streams API key changes until ctx ends, then closes the
// channel. The first event is a Reset; another Reset follows whenever the
// watch had to be re-established, since changes may have been missed.
func (s *Store) WatchAPIKeys(ctx context.Context) <-chan APIKeyEvent {
	ch := make(chan APIKeyEvent, eventBuffer)
	log := s.log.Named("watch_apikeys")
	go func() {
		defer close(ch)
		send := func(ev APIKeyEvent) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		s.follow(ctx, apikeyPrefix, log,
			func(kvs []*mvccpb.KeyValue) bool {
				snap := make([]apikey.Key, 0, len(kvs))
				for _, kv := range kvs {
					k, err := decodeAPIKey(kv)
					if err != nil {
						log.Error("skipping undecodable key", "error", err)
						continue
					}
					snap = append(snap, k)
				}
				sortKeys(snap)
				return send(APIKeyEvent{Type: EventReset, Snapshot: snap})
			},
			func(evs []*clientv3.Event) bool {
				for _, ev := range evs {
					id := strings.TrimPrefix(string(ev.Kv.Key), apikeyPrefix)
					out := APIKeyEvent{Type: EventDelete, ID: id}
					if ev.Type != clientv3.EventTypeDelete {
						k, err := decodeAPIKey(ev.Kv)
						if err != nil {
							// Dropping the key is the safe reading of a
							// record nobody can decode.
							log.Error("treating undecodable key as deleted", "error", err)
						} else {
							out = APIKeyEvent{Type: EventPut, ID: id, Key: k}
						}
					}
					if !send(out) {
						return false
					}
				}
				return true
			})
	}()
	return ch
}
