package volumes

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
)

// DiskUsage is what namespace ns's files on its own volumes take, in
// bytes (allocated blocks, hard links counted once; the filesystem's own
// metadata not counted): what storage metering bills. It walks the
// volumes' roots without following links; an encrypted volume whose key
// is removed is measured all the same. A volume that is not mounted
// counts 0.
func (m *Manager) DiskUsage(ctx context.Context, ns string) (int64, error) {
	var total int64
	for _, role := range []string{Data, Skills} {
		if _, ok, err := mountAt(m.mnt(ns, role)); err != nil || !ok {
			continue
		}
		n, err := treeBytes(ctx, m.root(ns, role))
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func treeBytes(ctx context.Context, root string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var total int64
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			total += info.Size()
			return nil
		}
		if st.Nlink > 1 {
			k := inode{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += st.Blocks * 512
		return nil
	})
	return total, err
}
