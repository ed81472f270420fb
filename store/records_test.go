package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/provider"
)

func TestRecords(t *testing.T) {
	s := newTestStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range []string{"a", "b"} {
		if err := s.CreateProvider(ctx, provider.Provider{Name: n, SealedKey: "v2:" + n}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListRecords(ctx, "providers/")
	if err != nil || len(got) != 2 || !strings.Contains(string(got["a"]), `"sealedKey":"v2:a"`) {
		t.Fatalf("list: %q %v", got, err)
	}
	// A write between read and write makes fn run again on the new value.
	runs := 0
	err = s.UpdateRecord(ctx, "providers/", "a", func(old []byte) ([]byte, error) {
		runs++
		if runs == 1 {
			if _, err := s.cli.Put(ctx, providerPrefix+"a", strings.Replace(string(old), "v2:a", "v2:other", 1)); err != nil {
				t.Fatal(err)
			}
		}
		return []byte(strings.Replace(string(old), `"sealedKey":"`, `"sealedKey":"x`, 1)), nil
	})
	if err != nil || runs != 2 {
		t.Fatalf("update: %v after %d runs", err, runs)
	}
	ps, _ := s.ListProviders(ctx)
	if ps[0].SealedKey != "xv2:other" || ps[1].SealedKey != "v2:b" {
		t.Errorf("after update %+v", ps)
	}
	if err := s.UpdateRecord(ctx, "providers/", "gone", func([]byte) ([]byte, error) { t.Fatal("fn ran for a missing record"); return nil, nil }); err != nil {
		t.Error(err)
	}
	if _, err := s.ListRecords(ctx, "../etc"); err == nil {
		t.Error("prefix outside clawd's keys accepted")
	}
}
