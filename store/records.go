package store

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Records gives key rotation (secrets.Records) the stored bytes of the
// records that hold sealed secrets, by prefix under clawd's key space
// ("providers/", "logins/", "billing/settings"), and rewrites one record
// at a time, only if nobody wrote it since it was read.

func recordPrefix(prefix string) (string, error) {
	if prefix == "" || strings.HasPrefix(prefix, "/") || strings.Contains(prefix, "..") || strings.Contains(prefix, "\x00") {
		return "", fmt.Errorf("invalid record prefix %q", prefix)
	}
	return keyPrefix + prefix, nil
}

// ListRecords returns the values under prefix by their key after it.
func (s *Store) ListRecords(ctx context.Context, prefix string) (map[string][]byte, error) {
	p, err := recordPrefix(prefix)
	if err != nil {
		return nil, err
	}
	_, kvs, err := s.list(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(kvs))
	for _, kv := range kvs {
		out[strings.TrimPrefix(string(kv.Key), p)] = kv.Value
	}
	return out, nil
}

// UpdateRecord replaces the record prefix+key with what fn makes of it,
// guarded by its revision; on a concurrent write fn runs again on the new
// value. fn returning nil leaves the record alone; a record that is gone
// is left gone.
func (s *Store) UpdateRecord(ctx context.Context, prefix, key string, fn func(old []byte) ([]byte, error)) error {
	p, err := recordPrefix(prefix)
	if err != nil {
		return err
	}
	k := p + key
	for attempt := 0; attempt < 5; attempt++ {
		gctx, cancel := s.opCtx(ctx)
		resp, err := s.cli.Get(gctx, k)
		cancel()
		if err != nil {
			return fmt.Errorf("reading %s: %w", prefix+key, err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		kv := resp.Kvs[0]
		val, err := fn(kv.Value)
		if err != nil || val == nil {
			return err
		}
		tctx, cancel := s.opCtx(ctx)
		tr, err := s.cli.Txn(tctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", kv.ModRevision)).
			Then(clientv3.OpPut(k, string(val))).
			Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("writing %s: %w", prefix+key, err)
		}
		if tr.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("writing %s: %w, five times in a row", prefix+key, ErrChanged)
}
