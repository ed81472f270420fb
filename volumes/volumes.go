// Package volumes gives namespaces hard storage caps and encryption at
// rest: each capped (or encrypted) volume is an ext4 filesystem in a sparse
// image file of the quota's size under clawd's data dir, attached to a loop
// device and mounted by clawd at a stable host path; the gateway's
// container bind-mounts a directory of it. A write past the cap fails with
// ENOSPC inside the gateway and nowhere else. A data volume of a namespace
// with encryption on is encrypted by the kernel (fscrypt v2), under a
// per-namespace key stored only wrapped (KeyWrapper) and added to the
// kernel only while the gateway runs.
//
// Layout under Config.Dir, per namespace and role (data, skills):
//
//	<ns>/<role>.img   the image (sparse; made as <role>.img.new, renamed)
//	<ns>/<role>/      where it is mounted
//	<ns>/<role>/root  what the gateway's container mounts
//
// Every operation is idempotent and safe to repeat after a crash at any
// point; callers serialize the operations on one namespace (the
// supervisor's work queue does).
package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/units"
)

// Roles: the gateway's state dir and its skills dir.
const (
	Data   = "data"
	Skills = "skills"
)

// MinSize is the smallest capped volume: ext4's journal and metadata need
// a few MiB of it.
const MinSize = 16 << 20

// DefaultEncryptedSize is the size of an encrypted data volume whose
// namespace has no storage.data quota (sparse: it takes only what is
// written).
const DefaultEncryptedSize = 10 << 30

// rootDir is the directory of a mounted volume the gateway sees; the
// filesystem's root also holds lost+found and clawd's markers.
const rootDir = "root"

// KeyWrapper seals and opens volume keys (the secrets key source).
// context binds a wrapped key to its namespace.
type KeyWrapper interface {
	WrapKey(ctx context.Context, plain []byte, context string) (string, error)
	UnwrapKey(ctx context.Context, wrapped, context string) ([]byte, error)
}

// KeyStore keeps wrapped volume keys where namespace state lives.
type KeyStore interface {
	// VolumeKey returns namespace ns's wrapped key, "" when it has none.
	VolumeKey(ctx context.Context, ns string) (string, error)
	// CreateVolumeKey stores wrapped unless ns has a key already, and
	// returns the key stored after the call (the first writer wins).
	CreateVolumeKey(ctx context.Context, ns, wrapped string) (string, error)
	// DeleteVolumeKey forgets ns's key; a missing one is no error.
	DeleteVolumeKey(ctx context.Context, ns string) error
}

// Config sets up a Manager.
type Config struct {
	// Dir holds the images and mount points (<data dir>/volumes).
	Dir string
	// UID and GID own a new volume's root (the gateway's user).
	UID, GID int
	// Keys and KeyStore are needed for encrypted volumes only.
	Keys     KeyWrapper
	KeyStore KeyStore
	// EncryptedSize is an encrypted data volume's size when no
	// storage.data quota says (0: DefaultEncryptedSize).
	EncryptedSize int64
	Logger        hclog.Logger
}

// Manager makes, mounts, grows, unlocks, locks and removes volumes.
type Manager struct {
	cfg Config
	log hclog.Logger
	// locks hold one mutex a namespace (*sync.Mutex): Ensure, Lock and
	// Unlocked take it, so a wake never races a temporary unlock.
	locks sync.Map
}

// nsLock is namespace ns's volume lock.
func (m *Manager) nsLock(ns string) *sync.Mutex {
	l, _ := m.locks.LoadOrStore(ns, &sync.Mutex{})
	return l.(*sync.Mutex)
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.EncryptedSize == 0 {
		cfg.EncryptedSize = DefaultEncryptedSize
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Manager{cfg: cfg, log: log}
}

// Want is what a namespace asks of its volumes.
type Want struct {
	// Data and Skills are the caps in bytes (0: none).
	Data, Skills int64
	// Encrypt encrypts the data volume.
	Encrypt bool
}

// Plan reads what spec and the dynamic config values ask for:
// quotas.storage.data|skills and namespaces.<ns>.encryption.enabled.
func Plan(spec namespace.Spec, values map[string]string) Want {
	var w Want
	if q := spec.Quota; q != nil {
		w.Data, w.Skills = q.StorageData, q.StorageSkills
	}
	if v, ok := config.Effective(values, spec.Name, "encryption.enabled"); ok && v == "true" {
		w.Encrypt = true
	}
	return w
}

// ErrNeedsStop is returned by Ensure when the gateway must be stopped
// first: its data has to move into an encrypted directory.
var ErrNeedsStop = errors.New("the gateway must be stopped to move its data")

func (m *Manager) nsDir(ns string) string       { return filepath.Join(m.cfg.Dir, ns) }
func (m *Manager) image(ns, role string) string { return filepath.Join(m.cfg.Dir, ns, role+".img") }
func (m *Manager) mnt(ns, role string) string   { return filepath.Join(m.cfg.Dir, ns, role) }
func (m *Manager) root(ns, role string) string  { return filepath.Join(m.cfg.Dir, ns, role, rootDir) }
func (m *Manager) marker(ns, role string) string {
	return filepath.Join(m.cfg.Dir, ns, role, ".imported")
}

// Binds returns the host directories namespace ns's gateway mounts at its
// state and skills dirs; "" for a role that stays a plain Docker volume.
// A role gets one when it has a cap or, for data, encryption, and keeps
// it once its image exists (a quota removed later leaves the data where
// it is).
func (m *Manager) Binds(ns string, w Want) (data, skills string) {
	if w.Data > 0 || w.Encrypt || exists(m.image(ns, Data)) {
		data = m.root(ns, Data)
	}
	if w.Skills > 0 || exists(m.image(ns, Skills)) {
		skills = m.root(ns, Skills)
	}
	return data, skills
}

// Ensure makes namespace ns's volumes ready for its gateway to start:
// made, attached, mounted, grown to their caps, the data volume's key
// added and its directory encrypted. stopped says the gateway is not
// running, so data may be moved; without it, data that would have to move
// into an encrypted directory is ErrNeedsStop.
func (m *Manager) Ensure(ctx context.Context, ns string, w Want, stopped bool) error {
	l := m.nsLock(ns)
	l.Lock()
	defer l.Unlock()
	log := m.log.With("namespace", ns)
	for _, role := range []string{Data, Skills} {
		size := w.Skills
		encrypt := false
		if role == Data {
			size, encrypt = w.Data, w.Encrypt
		}
		cur, err := imageSize(m.image(ns, role))
		if err != nil {
			return fmt.Errorf("%s volume of %s: %w", role, ns, err)
		}
		if size == 0 && encrypt {
			size = max(cur, m.cfg.EncryptedSize)
		}
		if size == 0 && cur == 0 {
			continue
		}
		if err := m.ensureRole(ctx, log, ns, role, max(size, cur), encrypt, stopped); err != nil {
			return fmt.Errorf("%s volume of %s: %w", role, ns, err)
		}
		if size < cur && size > 0 {
			log.Warn("a volume never shrinks; it keeps its size", "role", role, "size", cur, "quota", size)
		}
	}
	return nil
}

func (m *Manager) ensureRole(ctx context.Context, log hclog.Logger, ns, role string, size int64, encrypt, stopped bool) error {
	if size < MinSize {
		return fmt.Errorf("a capped volume must be at least %s, not %s", units.FormatBytes(MinSize), units.FormatBytes(size))
	}
	dev, err := m.mount(ctx, log, ns, role, size)
	if err != nil {
		return err
	}
	// Before the key is added: an offline grow mounts the filesystem
	// again, and its keyring goes with the unmount.
	if err := m.grow(ctx, log, ns, role, dev, size, stopped); err != nil {
		return err
	}
	mnt, root := m.mnt(ns, role), m.root(ns, role)
	if err := recoverSwap(root); err != nil {
		return err
	}
	var id keyID
	_, encrypted, err := policyIfExists(root)
	if err != nil {
		return err
	}
	if encrypt || encrypted {
		if id, err = m.unlock(ctx, ns, mnt); err != nil {
			return err
		}
	}
	// As in the OpenClaw image: the state dir private, skills readable.
	mode := os.FileMode(0o755)
	if role == Data {
		mode = 0o700
	}
	if err := m.ensureRoot(root, mode, encrypt || encrypted, id); err != nil {
		return err
	}
	if encrypt || encrypted {
		if err := m.checkEncrypted(ctx, log, root, id, stopped); err != nil {
			return err
		}
	}
	return nil
}

// mount makes, attaches and mounts the image when it is not mounted yet,
// and returns its loop device.
func (m *Manager) mount(ctx context.Context, log hclog.Logger, ns, role string, size int64) (string, error) {
	image, mnt := m.image(ns, role), m.mnt(ns, role)
	if err := os.MkdirAll(mnt, 0o711); err != nil {
		return "", err
	}
	at, ok, err := mountAt(mnt)
	if err != nil {
		return "", err
	}
	if ok {
		if at.Backing != image {
			return "", fmt.Errorf("%s has %s mounted on it, not the volume image", mnt, at.Device)
		}
		return at.Device, nil
	}
	if !exists(image) {
		start := time.Now()
		if err := makeImage(ctx, image, size); err != nil {
			return "", err
		}
		log.Info("volume made", "role", role, "bytes", size, "took", time.Since(start))
	}
	dev, f, err := attach(image)
	if err != nil {
		return "", err
	}
	// The open device keeps it attached until the mount holds it.
	defer f.Close()
	if err := unix.Mount(dev, mnt, "ext4", unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return "", fmt.Errorf("mounting %s (%s) at %s: %w", image, dev, mnt, err)
	}
	log.Debug("volume mounted", "role", role, "device", dev, "at", mnt)
	return dev, nil
}

// ensureRoot makes the directory the gateway mounts, owned by its user
// and, for an encrypted volume, encrypted from the start. It is made
// under another name and renamed, so it exists whole or not at all.
func (m *Manager) ensureRoot(root string, mode os.FileMode, encrypt bool, id keyID) error {
	if exists(root) {
		return nil
	}
	tmp := root + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil { // past the umask
		return err
	}
	if encrypt {
		if err := setPolicy(tmp, id); err != nil {
			return err
		}
	}
	if err := os.Chown(tmp, m.cfg.UID, m.cfg.GID); err != nil {
		return err
	}
	return os.Rename(tmp, root)
}

func policyIfExists(root string) (keyID, bool, error) {
	if !exists(root) {
		return keyID{}, false, nil
	}
	return policyOf(root)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// BindsFor is Binds for what spec and the dynamic config values ask.
func (m *Manager) BindsFor(spec namespace.Spec, values map[string]string) (data, skills string) {
	return m.Binds(spec.Name, Plan(spec, values))
}

// Prepare is Ensure for what spec and the dynamic config values ask.
func (m *Manager) Prepare(ctx context.Context, spec namespace.Spec, values map[string]string, stopped bool) error {
	return m.Ensure(ctx, spec.Name, Plan(spec, values), stopped)
}

// VolumeUsed is Usage's used bytes; ok is false without a volume.
func (m *Manager) VolumeUsed(ns, role string) (int64, bool, error) {
	u, err := m.Usage(ns, role)
	return u.Used, u.Size > 0, err
}
