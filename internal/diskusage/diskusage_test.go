package diskusage

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestTree(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	big := make([]byte, 64<<10)
	if err := os.WriteFile(filepath.Join(root, "a"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "a"), filepath.Join(root, "a-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "b"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	n, err := Tree(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	// one 64 KiB file (its hard link counted once, the link's target not
	// at all) plus the directory's own blocks
	if n < 64<<10 || n >= 2*64<<10 {
		t.Errorf("Tree = %d bytes, want 64 KiB plus the directory's blocks", n)
	}
	if _, err := Tree(context.Background(), filepath.Join(root, "missing")); err != nil {
		t.Errorf("a missing root: %v, want 0 and no error", err)
	}
}
