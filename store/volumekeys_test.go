package store

import (
	"context"
	"testing"
)

func TestVolumeKeys(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	if k, err := s.VolumeKey(ctx, "a"); err != nil || k != "" {
		t.Fatalf("no key yet: %q %v", k, err)
	}
	if k, err := s.CreateVolumeKey(ctx, "a", "first"); err != nil || k != "first" {
		t.Fatalf("create: %q %v", k, err)
	}
	// A second maker (another node) gets the first key back.
	if k, err := s.CreateVolumeKey(ctx, "a", "second"); err != nil || k != "first" {
		t.Fatalf("second create: %q %v", k, err)
	}
	if k, err := s.VolumeKey(ctx, "a"); err != nil || k != "first" {
		t.Fatalf("read: %q %v", k, err)
	}
	if err := s.ReplaceVolumeKey(ctx, "a", "stale", "third"); err == nil {
		t.Fatal("a replace of a key that changed meanwhile succeeded")
	}
	if err := s.ReplaceVolumeKey(ctx, "a", "first", "rewrapped"); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.VolumeKey(ctx, "a"); k != "rewrapped" {
		t.Fatalf("after replace: %q", k)
	}
	if err := s.DeleteVolumeKey(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVolumeKey(ctx, "a"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if k, err := s.VolumeKey(ctx, "a"); err != nil || k != "" {
		t.Fatalf("after delete: %q %v", k, err)
	}
}
