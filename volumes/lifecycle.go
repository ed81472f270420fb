package volumes

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/clawd-dev/clawd/units"
)

// Lock removes namespace ns's data key from the kernel (its gateway has
// stopped): its files read as ciphertext until the next Ensure.
func (m *Manager) Lock(ctx context.Context, ns string) error {
	l := m.nsLock(ns)
	l.Lock()
	defer l.Unlock()
	mnt, root := m.mnt(ns, Data), m.root(ns, Data)
	if _, ok, err := mountAt(mnt); err != nil || !ok {
		return err
	}
	id, enc, err := policyIfExists(root)
	if err != nil || !enc {
		return err
	}
	busy, err := removeKey(mnt, id)
	if err != nil {
		return fmt.Errorf("locking the data volume of %s: %w", ns, err)
	}
	if busy {
		m.log.Warn("volume key removed but files are still open; they stay readable until closed", "namespace", ns)
	}
	return nil
}

// Locked reports that namespace ns's data volume is encrypted and its key
// is not in the kernel (its gateway is stopped or evicted): what clawd
// reads there from the host is ciphertext.
func (m *Manager) Locked(ns string) (bool, error) {
	mnt := m.mnt(ns, Data)
	if _, ok, err := mountAt(mnt); err != nil || !ok {
		return false, err
	}
	id, enc, err := policyIfExists(m.root(ns, Data))
	if err != nil || !enc {
		return false, err
	}
	present, err := keyPresent(mnt, id)
	return !present, err
}

// Remove unmounts namespace ns's volumes (a deleted namespace) and, with
// purge, deletes their images and the namespace's key. Without purge the
// images and key stay, so a namespace made again by that name gets its
// data back.
func (m *Manager) Remove(ctx context.Context, ns string, purge bool) error {
	if !exists(m.nsDir(ns)) {
		if purge {
			return m.deleteKey(ctx, ns)
		}
		return nil
	}
	_ = m.Lock(ctx, ns)
	for _, role := range []string{Data, Skills} {
		mnt := m.mnt(ns, role)
		if _, ok, err := mountAt(mnt); err != nil {
			return err
		} else if ok {
			if err := unix.Unmount(mnt, 0); err != nil {
				return fmt.Errorf("unmounting the %s volume of %s: %w", role, ns, err)
			}
		}
		if _, ok, err := mountAt(mnt); err != nil || ok {
			return fmt.Errorf("the %s volume of %s is still mounted at %s", role, ns, mnt)
		}
	}
	if !purge {
		return nil
	}
	if err := os.RemoveAll(m.nsDir(ns)); err != nil {
		return fmt.Errorf("removing the volumes of %s: %w", ns, err)
	}
	m.log.Info("volume images removed", "namespace", ns)
	return m.deleteKey(ctx, ns)
}

func (m *Manager) deleteKey(ctx context.Context, ns string) error {
	if m.cfg.KeyStore == nil {
		return nil
	}
	return m.cfg.KeyStore.DeleteVolumeKey(ctx, ns)
}

// Usage is one volume's size and use.
type Usage struct {
	// Size is the cap (the image's size); Used what the filesystem uses
	// (its metadata included); both 0 for a role without a volume.
	Size, Used int64
	// Exact is false when the volume is not mounted and Used is the
	// blocks its image takes on the host (an upper bound).
	Exact bool
}

// Usage reads namespace ns's volume for role.
func (m *Manager) Usage(ns, role string) (Usage, error) {
	size, err := imageSize(m.image(ns, role))
	if err != nil || size == 0 {
		return Usage{}, err
	}
	mnt := m.mnt(ns, role)
	if _, ok, err := mountAt(mnt); err == nil && ok {
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil {
			return Usage{}, err
		}
		return Usage{Size: size, Used: int64(st.Blocks-st.Bfree) * st.Bsize, Exact: true}, nil
	}
	used, err := allocated(m.image(ns, role))
	return Usage{Size: size, Used: min(used, size)}, err
}

// CheckResize refuses a cap a volume cannot take: below MinSize, or
// smaller than the volume is (volumes only grow; below what is used is
// said so). key names the quota for the message (storage.data).
func (m *Manager) CheckResize(ns, role string, size int64, key string) error {
	if size == 0 {
		return nil
	}
	if size < MinSize {
		return fmt.Errorf("%s: %s is too small for a volume; at least %s", key, units.FormatBytes(size), units.FormatBytes(MinSize))
	}
	u, err := m.Usage(ns, role)
	if err != nil {
		return fmt.Errorf("%s: reading the volume: %w", key, err)
	}
	if u.Size == 0 || size >= u.Size {
		return nil
	}
	if size < u.Used {
		return fmt.Errorf("%s: %s is below the %s the volume uses; free space first", key, units.FormatBytes(size), units.HumanBytes(u.Used))
	}
	return fmt.Errorf("%s: a volume cannot shrink (%s now, %s used); keep %s or more, or delete the namespace with --purge and create it again",
		key, units.FormatBytes(u.Size), units.HumanBytes(u.Used), units.FormatBytes(u.Size))
}
