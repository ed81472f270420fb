package volumes

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// unlock adds namespace ns's key (made on first use) to the filesystem.
func (m *Manager) unlock(ctx context.Context, ns, mnt string) (keyID, error) {
	key, err := m.key(ctx, ns)
	if err != nil {
		return keyID{}, err
	}
	defer clear(key)
	return addKey(mnt, key)
}

// key returns namespace ns's volume key, making and storing it (wrapped)
// the first time.
func (m *Manager) key(ctx context.Context, ns string) ([]byte, error) {
	if m.cfg.Keys == nil || m.cfg.KeyStore == nil {
		return nil, errors.New("volume encryption needs a key wrapper and a key store")
	}
	keyContext := "clawd/volume/" + ns
	wrapped, err := m.cfg.KeyStore.VolumeKey(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("reading the volume key: %w", err)
	}
	if wrapped == "" {
		plain := make([]byte, KeySize)
		if _, err := rand.Read(plain); err != nil {
			return nil, err
		}
		w, err := m.cfg.Keys.WrapKey(ctx, plain, keyContext)
		clear(plain)
		if err != nil {
			return nil, fmt.Errorf("wrapping the volume key: %w", err)
		}
		if wrapped, err = m.cfg.KeyStore.CreateVolumeKey(ctx, ns, w); err != nil {
			return nil, fmt.Errorf("storing the volume key: %w", err)
		}
	}
	key, err := m.cfg.Keys.UnwrapKey(ctx, wrapped, keyContext)
	if err != nil {
		return nil, fmt.Errorf("unwrapping the volume key: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("the stored volume key is %d bytes, not %d", len(key), KeySize)
	}
	return key, nil
}

// checkEncrypted makes sure root is encrypted under id, moving plain data
// into an encrypted directory when the gateway is stopped.
func (m *Manager) checkEncrypted(ctx context.Context, log hclog.Logger, root string, id keyID, stopped bool) error {
	have, ok, err := policyOf(root)
	if err != nil {
		return err
	}
	if ok {
		if have != id {
			return fmt.Errorf("%s is encrypted under key %s, not the namespace's stored key %s", root, have, id)
		}
		return nil
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return setPolicy(root, id)
	}
	if !stopped {
		return ErrNeedsStop
	}
	start := time.Now()
	if err := encryptTree(ctx, root, id); err != nil {
		return err
	}
	log.Info("data moved into an encrypted directory", "entries", len(entries), "took", time.Since(start))
	return nil
}

// encryptTree moves root's plain contents into an encrypted copy:
// root.enc is made and filled, root becomes root.old, root.enc becomes
// root, root.old is deleted. recoverSwap finishes or undoes each step.
func encryptTree(ctx context.Context, root string, id keyID) error {
	tmp, old := root+".enc", root+".old"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	if err := os.Mkdir(tmp, fi.Mode().Perm()); err != nil {
		return err
	}
	if err := setPolicy(tmp, id); err != nil {
		return err
	}
	if err := copyTree(ctx, root, tmp); err != nil {
		return fmt.Errorf("copying data into the encrypted directory: %w", err)
	}
	if err := keepAttrs(tmp, fi); err != nil {
		return err
	}
	unix.Sync()
	if err := os.Rename(root, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, root); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// recoverSwap finishes what a crash interrupted in encryptTree or
// ensureRoot.
func recoverSwap(root string) error {
	old := root + ".old"
	if exists(old) {
		if exists(root) {
			if err := os.RemoveAll(old); err != nil {
				return err
			}
		} else if err := os.Rename(old, root); err != nil {
			return err
		}
	}
	for _, tmp := range []string{root + ".enc", root + ".new"} {
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
	}
	return nil
}
