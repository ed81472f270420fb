package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Billing keeps its records (settings, plans, customers, the usage cursor,
// webhook event ids) as JSON under one prefix; the billing package owns
// their shape, the store only guards concurrent writers by revision.
const billingPrefix = keyPrefix + "billing/"

// ErrChanged reports that a record was written by someone else since it
// was read: read it again and retry.
var ErrChanged = errors.New("changed concurrently")

func billingKey(key string) (string, error) {
	if key == "" || strings.Contains(key, "\x00") || strings.HasPrefix(key, "/") || strings.Contains(key, "..") {
		return "", fmt.Errorf("invalid billing record key %q", key)
	}
	return billingPrefix + key, nil
}

// GetBilling returns a billing record and its revision (for PutBilling),
// or ErrNotFound.
func (s *Store) GetBilling(ctx context.Context, key string) ([]byte, int64, error) {
	k, err := billingKey(key)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, k)
	if err != nil {
		return nil, 0, fmt.Errorf("reading billing record %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("billing record %s: %w", key, ErrNotFound)
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// PutBilling writes a record only if it is still at revision rev (0: only
// if it does not exist yet). It returns ErrExists when rev is 0 and the
// record exists, ErrChanged when another write came first. A ttl above
// zero makes the record expire (remembered webhook event ids).
func (s *Store) PutBilling(ctx context.Context, key string, data []byte, rev int64, ttl time.Duration) error {
	k, err := billingKey(key)
	if err != nil {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var opts []clientv3.OpOption
	if ttl > 0 {
		lease, err := s.cli.Grant(ctx, int64(ttl/time.Second))
		if err != nil {
			return fmt.Errorf("writing billing record %s: %w", key, err)
		}
		opts = append(opts, clientv3.WithLease(lease.ID))
	}
	cmp := clientv3.Compare(clientv3.ModRevision(k), "=", rev)
	if rev == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
	}
	resp, err := s.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(k, string(data), opts...)).Commit()
	if err != nil {
		return fmt.Errorf("writing billing record %s: %w", key, err)
	}
	if !resp.Succeeded {
		if rev == 0 {
			return fmt.Errorf("billing record %s %w", key, ErrExists)
		}
		return fmt.Errorf("billing record %s %w", key, ErrChanged)
	}
	return nil
}

// ListBilling returns the records whose keys start with prefix, by key
// (without prefix).
func (s *Store) ListBilling(ctx context.Context, prefix string) (map[string][]byte, error) {
	k, err := billingKey(prefix)
	if err != nil {
		return nil, err
	}
	_, kvs, err := s.list(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("listing billing records: %w", err)
	}
	out := make(map[string][]byte, len(kvs))
	for _, kv := range kvs {
		out[strings.TrimPrefix(string(kv.Key), k)] = kv.Value
	}
	return out, nil
}

// DeleteBilling removes a record; a missing one is not an error.
func (s *Store) DeleteBilling(ctx context.Context, key string) error {
	k, err := billingKey(key)
	if err != nil {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if _, err := s.cli.Delete(ctx, k); err != nil {
		return fmt.Errorf("removing billing record %s: %w", key, err)
	}
	return nil
}
