package store

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// AuditHead is the newest record of a namespace's audit chain that is known
// to be committed to the ledger: its sequence number and hash. It anchors
// the chain outside the database, so rows removed or rewritten there up to
// this record are detected by audit verify.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// auditKey is a namespace's chain head; the cluster-wide chain ("") is "-",
// which no namespace name can be.
func auditKey(ns string) string {
	if ns == "" {
		ns = "-"
	}
	return auditPrefix + ns
}

// PutAuditHead moves a namespace's audit head forward; a head at or behind
// the stored one (a slower node, a retried flush) is ignored, so the anchor
// never goes back.
func (s *Store) PutAuditHead(ctx context.Context, ns string, h AuditHead) error {
	data, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("writing audit head of %q: %w", ns, err)
	}
	key := auditKey(ns)
	for attempt := 0; attempt < 5; attempt++ {
		cur, rev, err := s.getAuditHead(ctx, key)
		if err != nil {
			return err
		}
		if rev != 0 && cur.Seq >= h.Seq {
			return nil
		}
		octx, cancel := s.opCtx(ctx)
		resp, err := s.cli.Txn(octx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(data))).
			Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("writing audit head of %q: %w", ns, err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("writing audit head of %q: the head kept changing", ns)
}

// GetAuditHead reads a namespace's audit head; ok is false when none was
// written yet.
func (s *Store) GetAuditHead(ctx context.Context, ns string) (h AuditHead, ok bool, err error) {
	h, rev, err := s.getAuditHead(ctx, auditKey(ns))
	return h, rev != 0, err
}

func (s *Store) getAuditHead(ctx context.Context, key string) (AuditHead, int64, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return AuditHead{}, 0, fmt.Errorf("reading audit head %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return AuditHead{}, 0, nil
	}
	var h AuditHead
	if err := json.Unmarshal(resp.Kvs[0].Value, &h); err != nil {
		return AuditHead{}, 0, fmt.Errorf("reading audit head %s: %w", key, err)
	}
	return h, resp.Kvs[0].ModRevision, nil
}
