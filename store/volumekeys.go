package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// volumeKeyPrefix holds each namespace's volume encryption key, wrapped
// by the caller (volumes.KeyWrapper): the store never sees it in plain.
// It outlives a namespace deleted without --purge, whose encrypted images
// stay on disk.
const volumeKeyPrefix = keyPrefix + "volumekeys/"

func volumeKeyKey(ns string) string { return volumeKeyPrefix + ns }

// VolumeKey returns namespace ns's wrapped volume key, "" when it has none.
func (s *Store) VolumeKey(ctx context.Context, ns string) (string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, volumeKeyKey(ns))
	if err != nil {
		return "", fmt.Errorf("reading the volume key of %s: %w", ns, err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// CreateVolumeKey stores wrapped as namespace ns's volume key unless it
// has one, and returns the one stored: two nodes racing to make a key
// both end up with the first.
func (s *Store) CreateVolumeKey(ctx context.Context, ns, wrapped string) (string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	k := volumeKeyKey(ns)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, wrapped)).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return "", fmt.Errorf("storing the volume key of %s: %w", ns, err)
	}
	if resp.Succeeded {
		return wrapped, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return "", fmt.Errorf("storing the volume key of %s: it was deleted meanwhile", ns)
	}
	return string(kvs[0].Value), nil
}

// DeleteVolumeKey forgets namespace ns's volume key (namespace delete
// --purge, with its images); a missing key is no error.
func (s *Store) DeleteVolumeKey(ctx context.Context, ns string) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if _, err := s.cli.Delete(ctx, volumeKeyKey(ns)); err != nil {
		return fmt.Errorf("deleting the volume key of %s: %w", ns, err)
	}
	return nil
}

// ReplaceVolumeKey stores wrapped as namespace ns's volume key if the
// stored one is still old (a rewrap racing another keeps one of them,
// both sealing the same key).
func (s *Store) ReplaceVolumeKey(ctx context.Context, ns, old, wrapped string) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	k := volumeKeyKey(ns)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(k), "=", old)).
		Then(clientv3.OpPut(k, wrapped)).
		Commit()
	if err != nil {
		return fmt.Errorf("replacing the volume key of %s: %w", ns, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("replacing the volume key of %s: it changed meanwhile", ns)
	}
	return nil
}
