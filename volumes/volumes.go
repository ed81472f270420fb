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
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// grow brings a volume up to size. A marker file holds the target while a
// grow is under way, so a crash halfway (the file extended, the
// filesystem not yet) is finished by the next Ensure. Without
// CAP_SYS_RESOURCE (this kind of host) a mounted filesystem cannot grow:
// the gateway is stopped for it (ErrNeedsStop), the volume unmounted,
// grown and mounted again.
func (m *Manager) grow(ctx context.Context, log hclog.Logger, ns, role, dev string, size int64, stopped bool) error {
	image, marker := m.image(ns, role), m.image(ns, role)+".grow"
	cur, err := imageSize(image)
	if err != nil {
		return err
	}
	if pending, err := os.ReadFile(marker); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(pending)), 10, 64); err == nil {
			size = max(size, n)
		}
	} else if size <= cur {
		return nil
	}
	online := canGrowOnline()
	if !online && !stopped {
		return ErrNeedsStop
	}
	if err := os.WriteFile(marker, []byte(strconv.FormatInt(size, 10)), 0o600); err != nil {
		return err
	}
	start := time.Now()
	if online {
		err = growOnline(ctx, image, dev, size)
	} else {
		mnt := m.mnt(ns, role)
		if err = unix.Unmount(mnt, 0); err != nil {
			return fmt.Errorf("unmounting to grow: %w", err)
		}
		err = growOffline(ctx, image, size)
		if _, merr := m.mount(ctx, log, ns, role, size); err == nil {
			err = merr
		}
	}
	if err != nil {
		return fmt.Errorf("growing to %s: %w", units.FormatBytes(size), err)
	}
	if err := os.Remove(marker); err != nil {
		return err
	}
	log.Info("volume grown", "role", role, "from", cur, "to", size, "online", online, "took", time.Since(start))
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

// Lock removes namespace ns's data key from the kernel (its gateway has
// stopped): its files read as ciphertext until the next Ensure.
func (m *Manager) Lock(ctx context.Context, ns string) error {
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
