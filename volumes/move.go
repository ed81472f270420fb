package volumes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Import fills a volume with the contents of from (the Docker volume the
// gateway used before it had a cap or encryption), once: a crash halfway
// copies again from the start.
func (m *Manager) Import(ctx context.Context, ns, role, from string) error {
	if exists(m.marker(ns, role)) {
		return nil
	}
	root := m.root(ns, role)
	if _, ok, err := mountAt(m.mnt(ns, role)); err != nil || !ok {
		return fmt.Errorf("importing into the %s volume of %s: it is not mounted (%v)", role, ns, err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := copyTree(ctx, from, root); err != nil {
		return fmt.Errorf("copying the %s volume of %s onto its new volume: %w", role, ns, err)
	}
	if fi, err := os.Stat(from); err == nil {
		if err := keepAttrs(root, fi); err != nil {
			return err
		}
	}
	if err := os.WriteFile(m.marker(ns, role), []byte(from+"\n"), 0o600); err != nil {
		return err
	}
	m.log.Info("volume contents moved", "namespace", ns, "role", role, "from", from, "took", time.Since(start))
	return nil
}
