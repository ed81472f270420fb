package volumes

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestUnlocked: a locked volume is readable inside Unlocked and locked
// again after it; a wake that comes meanwhile waits for it and then finds
// its key in the kernel; an unlocked volume stays unlocked.
func TestUnlocked(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	ns := "unl"
	w := Want{Encrypt: true}
	if err := m.Ensure(ctx, ns, w, true); err != nil {
		t.Fatal(err)
	}
	cleanupNS(t, m, ns)
	file := filepath.Join(m.root(ns, Data), "old.log")
	if err := os.WriteFile(file, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Lock(ctx, ns); err != nil {
		t.Fatal(err)
	}
	woke := make(chan error, 1)
	err := m.Unlocked(ctx, ns, func() error {
		if _, err := os.ReadFile(file); err != nil {
			t.Errorf("reading inside Unlocked: %v", err)
		}
		go func() { woke <- m.Ensure(ctx, ns, w, true) }()
		select {
		case err := <-woke:
			t.Errorf("Ensure ran during Unlocked (%v)", err)
		case <-time.After(300 * time.Millisecond):
		}
		return os.Remove(file)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("wake after Unlocked: %v", err)
	}
	if locked, err := m.Locked(ns); err != nil || locked {
		t.Fatalf("after the wake: locked %v, %v", locked, err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the file removed inside Unlocked: %v", err)
	}
	// Unlocked while the key is in (a running gateway) leaves it in.
	if err := m.Unlocked(ctx, ns, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if locked, err := m.Locked(ns); err != nil || locked {
		t.Fatalf("Unlocked took the key of a running namespace out: %v, %v", locked, err)
	}
	// And without a wake, the volume is locked again after it.
	if err := m.Lock(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := m.Unlocked(ctx, ns, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if locked, err := m.Locked(ns); err != nil || !locked {
		t.Fatalf("after Unlocked of a stopped namespace: locked %v, %v", locked, err)
	}
}
