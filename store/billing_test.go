package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBillingRecords(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	if _, _, err := s.GetBilling(ctx, "plans/basic"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing record: %v, want ErrNotFound", err)
	}
	if err := s.PutBilling(ctx, "plans/basic", []byte(`{"a":1}`), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBilling(ctx, "plans/basic", []byte(`{"a":2}`), 0, 0); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	data, rev, err := s.GetBilling(ctx, "plans/basic")
	if err != nil || string(data) != `{"a":1}` {
		t.Fatalf("get: %s %v", data, err)
	}
	if err := s.PutBilling(ctx, "plans/basic", []byte(`{"a":3}`), rev, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBilling(ctx, "plans/basic", []byte(`{"a":4}`), rev, 0); !errors.Is(err, ErrChanged) {
		t.Fatalf("stale revision: %v, want ErrChanged", err)
	}
	if err := s.PutBilling(ctx, "plans/pro", []byte(`{}`), 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListBilling(ctx, "plans/")
	if err != nil || len(list) != 2 || string(list["basic"]) != `{"a":3}` {
		t.Fatalf("list: %q %v", list, err)
	}
	if err := s.DeleteBilling(ctx, "plans/basic"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GetBilling(ctx, "plans/basic"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	for _, bad := range []string{"", "/x", "a/../b"} {
		if err := s.PutBilling(ctx, bad, nil, 0, 0); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}
