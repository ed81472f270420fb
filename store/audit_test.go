package store

import (
	"context"
	"testing"
)

// The audit anchor only moves forward; the cluster-wide chain has a key of
// its own.
func TestAuditHead(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	if _, ok, err := s.GetAuditHead(ctx, "a"); err != nil || ok {
		t.Fatalf("before any write: ok %v, %v", ok, err)
	}
	for _, tc := range []struct {
		put  AuditHead
		want AuditHead
	}{
		{AuditHead{Seq: 3, Hash: "h3"}, AuditHead{Seq: 3, Hash: "h3"}},
		{AuditHead{Seq: 7, Hash: "h7"}, AuditHead{Seq: 7, Hash: "h7"}},
		{AuditHead{Seq: 5, Hash: "h5"}, AuditHead{Seq: 7, Hash: "h7"}}, // a slower writer
		{AuditHead{Seq: 7, Hash: "other"}, AuditHead{Seq: 7, Hash: "h7"}},
	} {
		if err := s.PutAuditHead(ctx, "a", tc.put); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.GetAuditHead(ctx, "a"); err != nil || !ok || got != tc.want {
			t.Fatalf("after putting %+v: %+v %v %v, want %+v", tc.put, got, ok, err, tc.want)
		}
	}
	if err := s.PutAuditHead(ctx, "", AuditHead{Seq: 1, Hash: "c1"}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.GetAuditHead(ctx, ""); got.Hash != "c1" {
		t.Fatalf("cluster-wide head %+v", got)
	}
	if got, _, _ := s.GetAuditHead(ctx, "a"); got.Hash != "h7" {
		t.Fatalf("a's head changed with the cluster's: %+v", got)
	}
}
