package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/clawd-dev/clawd/store"
)

// Anchor keeps each chain's head outside the database (etcd).
type Anchor interface {
	PutAuditHead(ctx context.Context, ns string, h store.AuditHead) error
	GetAuditHead(ctx context.Context, ns string) (store.AuditHead, bool, error)
}

var _ Anchor = (*store.Store)(nil)

// Verification is what Verify found.
type Verification struct {
	Namespace string `json:"namespace"`
	OK        bool   `json:"ok"`
	Records   int64  `json:"records"`
	// Head is the newest record's seq and hash in the database.
	Head store.AuditHead `json:"head"`
	// Anchor is the head etcd holds; nil when none was written.
	Anchor *store.AuditHead `json:"anchor,omitempty"`
	// BrokenSeq is the first record that does not verify (0: none); for a
	// removed record, the seq that is missing.
	BrokenSeq int64  `json:"brokenSeq,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// errStop ends the walk at the first broken record.
var errStop = errors.New("stop")

// Verify walks a namespace's chain from its first record: each record's
// hash must match its canonical encoding, its PrevHash the record before,
// and seqs must run 1, 2, 3, … without gaps. The anchor may be behind the
// newest record (a crash between the commit and the anchor write) but the
// record it names must exist with the anchored hash: rows removed from
// the end, or a chain rewritten from the start, are caught there.
func Verify(ctx context.Context, g *Log, a Anchor, ns string) (Verification, error) {
	v := Verification{Namespace: ns, Head: store.AuditHead{Hash: GenesisHash}}
	var anchor store.AuditHead
	if a != nil {
		h, ok, err := a.GetAuditHead(ctx, ns)
		if err != nil {
			return v, err
		}
		if ok {
			anchor = h
			v.Anchor = &h
		}
	}
	broken := func(seq int64, why string, args ...any) error {
		v.BrokenSeq, v.Reason = seq, fmt.Sprintf(why, args...)
		return errStop
	}
	err := g.each(ctx, ns, func(r Record) error {
		want := v.Head.Seq + 1
		switch {
		case r.Seq != want:
			return broken(want, "record %d is missing (the next record is %d)", want, r.Seq)
		case r.PrevHash != v.Head.Hash:
			return broken(r.Seq, "record %d does not follow record %d: its previous hash is %s, record %d's hash is %s", r.Seq, want-1, short(r.PrevHash), want-1, short(v.Head.Hash))
		case r.ComputeHash() != r.Hash:
			return broken(r.Seq, "record %d was changed: its content hashes to %s, not to its stored hash %s", r.Seq, short(r.ComputeHash()), short(r.Hash))
		case r.Seq == anchor.Seq && r.Hash != anchor.Hash:
			return broken(r.Seq, "record %d is not the one anchored in etcd (hash %s there, %s here): the chain was rewritten", r.Seq, short(anchor.Hash), short(r.Hash))
		}
		v.Records++
		v.Head = store.AuditHead{Seq: r.Seq, Hash: r.Hash}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return v, err
	}
	if v.BrokenSeq == 0 && v.Head.Seq < anchor.Seq {
		v.BrokenSeq = v.Head.Seq + 1
		v.Reason = fmt.Sprintf("record %d is missing: etcd anchors the chain at record %d, the database ends at %d", v.Head.Seq+1, anchor.Seq, v.Head.Seq)
	}
	v.OK = v.BrokenSeq == 0
	return v, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Checked is a Log with the Anchor its chains are verified against: what
// the admin API serves.
type Checked struct {
	*Log
	Anchor Anchor
}

// Verify verifies ns's chain against the anchor.
func (c Checked) Verify(ctx context.Context, ns string) (Verification, error) {
	return Verify(ctx, c.Log, c.Anchor, ns)
}
