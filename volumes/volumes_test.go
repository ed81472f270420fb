package volumes

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clawd-dev/clawd/internal/testenv"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
)

// fakeWrapper "wraps" by prefixing; enough to prove the manager only
// stores what the wrapper returns, bound to its context.
type fakeWrapper struct{}

func (fakeWrapper) WrapKey(_ context.Context, plain []byte, c string) (string, error) {
	return c + ":" + string(plain), nil
}

func (fakeWrapper) UnwrapKey(_ context.Context, w, c string) ([]byte, error) {
	rest, ok := strings.CutPrefix(w, c+":")
	if !ok {
		return nil, errors.New("wrong context")
	}
	return []byte(rest), nil
}

type memKeys struct {
	mu   sync.Mutex
	keys map[string]string
}

func (k *memKeys) VolumeKey(_ context.Context, ns string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[ns], nil
}

func (k *memKeys) CreateVolumeKey(_ context.Context, ns, w string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string]string{}
	}
	if cur, ok := k.keys[ns]; ok {
		return cur, nil
	}
	k.keys[ns] = w
	return w, nil
}

func (k *memKeys) ReplaceVolumeKey(_ context.Context, ns, old, w string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys[ns] != old {
		return errors.New("changed meanwhile")
	}
	k.keys[ns] = w
	return nil
}

func (k *memKeys) DeleteVolumeKey(_ context.Context, ns string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, ns)
	return nil
}

// needLoop skips (or fails under CLAWD_REQUIRE_DOCKER) without root, loop
// devices and e2fsprogs.
func needLoop(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "volumes need root (loop devices, mount)")
	}
	for _, tool := range []string{"mkfs.ext4", "resize2fs"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s not installed (e2fsprogs)", tool)
		}
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		testenv.Missing(t, "no loop devices: %v", err)
	}
}

func newManager(t *testing.T) (*Manager, *memKeys) {
	t.Helper()
	needLoop(t)
	keys := &memKeys{}
	m := New(Config{Dir: t.TempDir(), UID: 1000, GID: 1000, Keys: fakeWrapper{}, KeyStore: keys, EncryptedSize: 32 << 20})
	return m, keys
}

// cleanupNS unmounts what the test mounted; the loop devices go with the
// mounts (autoclear). Never touches devices the test did not make.
func cleanupNS(t *testing.T, m *Manager, ns string) {
	t.Cleanup(func() {
		if err := m.Remove(context.Background(), ns, false); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

func writeBytes(path string, n int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	buf := bytes.Repeat([]byte{'x'}, 1<<20)
	for written := 0; written < n; written += len(buf) {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   namespace.Spec
		values map[string]string
		want   Want
	}{
		{"nothing", namespace.Spec{Name: "a"}, nil, Want{}},
		{"caps", namespace.Spec{Name: "a", Quota: &quota.Limits{StorageData: 64 << 20, StorageSkills: 32 << 20}}, nil, Want{Data: 64 << 20, Skills: 32 << 20}},
		{"encryption for this namespace", namespace.Spec{Name: "a"}, map[string]string{"namespaces.a.encryption.enabled": "true"}, Want{Encrypt: true}},
		{"encryption for every namespace", namespace.Spec{Name: "a"}, map[string]string{"namespaces.*.encryption.enabled": "true"}, Want{Encrypt: true}},
		{"this namespace opts out", namespace.Spec{Name: "a"}, map[string]string{"namespaces.*.encryption.enabled": "true", "namespaces.a.encryption.enabled": "false"}, Want{}},
		{"another namespace's", namespace.Spec{Name: "a"}, map[string]string{"namespaces.b.encryption.enabled": "true"}, Want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Plan(tc.spec, tc.values); got != tc.want {
				t.Fatalf("Plan = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b\011c`); got != "/a b\tc" {
		t.Fatalf("got %q", got)
	}
}

func TestBindsWithoutVolumes(t *testing.T) {
	m := New(Config{Dir: t.TempDir()})
	if d, s := m.Binds("a", Want{}); d != "" || s != "" {
		t.Fatalf("no caps, no encryption: binds %q %q, want none", d, s)
	}
	if err := m.Ensure(context.Background(), "a", Want{}, true); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(m.cfg.Dir); len(entries) != 0 {
		t.Fatalf("Ensure without caps made %d entries", len(entries))
	}
}

func TestCapGrowAndRefusals(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	ns := "cap"
	cleanupNS(t, m, ns)
	start := time.Now()
	if err := m.Ensure(ctx, ns, Want{Data: 32 << 20}, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("capped 32 MiB volume made and mounted in %s", time.Since(start))
	data, skills := m.Binds(ns, Want{Data: 32 << 20})
	if skills != "" || data != m.root(ns, Data) {
		t.Fatalf("binds %q %q", data, skills)
	}
	var st unix.Stat_t
	if err := unix.Stat(data, &st); err != nil || st.Uid != 1000 || st.Mode&0o777 != 0o700 {
		t.Fatalf("root: uid %d mode %o, %v; want 1000, 0700 (the image's state dir)", st.Uid, st.Mode&0o777, err)
	}
	// Ensure again: nothing changes (a second attach would be a second mount).
	if err := m.Ensure(ctx, ns, Want{Data: 32 << 20}, true); err != nil {
		t.Fatal(err)
	}
	err := writeBytes(filepath.Join(data, "big"), 40<<20)
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("writing 40 MiB into a 32 MiB volume: %v, want ENOSPC", err)
	}
	if err := os.Remove(filepath.Join(data, "big")); err != nil {
		t.Fatal(err)
	}
	if err := writeBytes(filepath.Join(data, "keep"), 20<<20); err != nil {
		t.Fatal(err)
	}
	u, err := m.Usage(ns, Data)
	if err != nil || !u.Exact || u.Size != 32<<20 || u.Used < 20<<20 || u.Used > 32<<20 {
		t.Fatalf("usage %+v, %v", u, err)
	}
	if err := m.CheckResize(ns, Data, 8<<20, "storage.data"); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Fatalf("8 MiB: %v", err)
	}
	if err := m.CheckResize(ns, Data, 17<<20, "storage.data"); err == nil || !strings.Contains(err.Error(), "below the") {
		t.Fatalf("shrink below used: %v", err)
	}
	if err := m.CheckResize(ns, Data, 30<<20, "storage.data"); err == nil || !strings.Contains(err.Error(), "cannot shrink") {
		t.Fatalf("shrink above used: %v", err)
	}
	if err := m.CheckResize(ns, Data, 64<<20, "storage.data"); err != nil {
		t.Fatalf("grow: %v", err)
	}
	// A grow keeps the data and makes room: in place with
	// CAP_SYS_RESOURCE, else only while the gateway is stopped.
	start = time.Now()
	err = m.Ensure(ctx, ns, Want{Data: 64 << 20}, false)
	if !canGrowOnline() {
		if !errors.Is(err, ErrNeedsStop) {
			t.Fatalf("grow while running without CAP_SYS_RESOURCE: %v, want ErrNeedsStop", err)
		}
		start = time.Now()
		err = m.Ensure(ctx, ns, Want{Data: 64 << 20}, true)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("grown 32 → 64 MiB (online: %v) in %s", canGrowOnline(), time.Since(start))
	if exists(m.image(ns, Data) + ".grow") {
		t.Fatal("the grow marker is left")
	}
	if fi, err := os.Stat(filepath.Join(data, "keep")); err != nil || fi.Size() != 20<<20 {
		t.Fatalf("data after grow: %v", err)
	}
	if err := writeBytes(filepath.Join(data, "more"), 30<<20); err != nil {
		t.Fatalf("writing 30 MiB more after the grow: %v", err)
	}
	// A smaller quota (which the API refuses) keeps the volume's size.
	if err := m.Ensure(ctx, ns, Want{Data: 32 << 20}, true); err != nil {
		t.Fatal(err)
	}
	if sz, _ := imageSize(m.image(ns, Data)); sz != 64<<20 {
		t.Fatalf("image %d bytes after a smaller quota", sz)
	}
}

func TestRemountAfterUnmountAndPurge(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	ns := "remount"
	w := Want{Data: 32 << 20, Skills: 16 << 20}
	if err := m.Ensure(ctx, ns, w, true); err != nil {
		t.Fatal(err)
	}
	cleanupNS(t, m, ns)
	data, skills := m.Binds(ns, w)
	if err := os.WriteFile(filepath.Join(data, "marker"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(skills, "skill"), []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := m.DiskUsage(ctx, ns); err != nil || n < 8192 || n > 1<<20 {
		t.Fatalf("DiskUsage of two small files: %d, %v", n, err)
	}
	// What a host reboot does: nothing mounted, nothing attached.
	if err := m.Remove(ctx, ns, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "marker")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after unmount the marker is still visible: %v", err)
	}
	// Without a quota the images still give the binds.
	if d, s := m.Binds(ns, Want{}); d != data || s != skills {
		t.Fatalf("binds after the quota went: %q %q", d, s)
	}
	start := time.Now()
	if err := m.Ensure(ctx, ns, Want{}, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("re-attached and re-mounted two volumes in %s", time.Since(start))
	if b, err := os.ReadFile(filepath.Join(data, "marker")); err != nil || string(b) != "kept" {
		t.Fatalf("marker after re-mount: %q %v", b, err)
	}
	if err := m.Remove(ctx, ns, true); err != nil {
		t.Fatal(err)
	}
	if exists(m.nsDir(ns)) {
		t.Fatal("purge left the namespace's images")
	}
}

func TestImport(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	ns := "import"
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "agents", "main"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "agents", "main", "session.jsonl"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("agents/main", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(src, "agents"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx, ns, Want{Data: 32 << 20}, true); err != nil {
		t.Fatal(err)
	}
	cleanupNS(t, m, ns)
	if err := m.Import(ctx, ns, Data, src); err != nil {
		t.Fatal(err)
	}
	root := m.root(ns, Data)
	if b, err := os.ReadFile(filepath.Join(root, "link", "session.jsonl")); err != nil || string(b) != "hello" {
		t.Fatalf("imported file: %q %v", b, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "agents"), &st); err != nil || st.Uid != 1000 || st.Mode&0o777 != 0o750 {
		t.Fatalf("imported dir owner %d mode %o: %v", st.Uid, st.Mode&0o777, err)
	}
	// Once: new data written since is not overwritten by a second call.
	if err := os.WriteFile(filepath.Join(root, "new"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Import(ctx, ns, Data, src); err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(root, "new")) {
		t.Fatal("a second import replaced the volume's contents")
	}
}

func TestEncryption(t *testing.T) {
	m, keys := newManager(t)
	ctx := context.Background()
	ns := "enc"
	w := Want{Encrypt: true}
	start := time.Now()
	if err := m.Ensure(ctx, ns, w, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("encrypted volume made, mounted and unlocked in %s", time.Since(start))
	cleanupNS(t, m, ns)
	if wrapped := keys.keys[ns]; !strings.HasPrefix(wrapped, "clawd/volume/"+ns+":") {
		t.Fatalf("stored key %q is not what the wrapper made", wrapped)
	}
	root := m.root(ns, Data)
	marker := "clawd-fscrypt-marker-" + time.Now().Format("150405.000000000")
	if err := os.MkdirAll(filepath.Join(root, "agents"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "agents", "secret-notes.txt"), bytes.Repeat([]byte(marker+"\n"), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	syncfs(t, m.mnt(ns, Data))
	raw, err := os.ReadFile(m.image(ns, Data))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(marker)) || bytes.Contains(raw, []byte("secret-notes")) {
		t.Fatal("the marker or the file name is in the image in plain text")
	}
	if locked, err := m.Locked(ns); err != nil || locked {
		t.Fatalf("Locked with the key in the kernel: %v, %v", locked, err)
	}
	if err := m.Lock(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if locked, err := m.Locked(ns); err != nil || !locked {
		t.Fatalf("Locked with the key removed: %v, %v", locked, err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "agents" {
			t.Fatal("with the key removed, names still read in plain text")
		}
	}
	if len(entries) != 1 {
		t.Fatalf("%d entries", len(entries))
	}
	_, err = os.ReadDir(filepath.Join(root, entries[0].Name()))
	sub, _ := os.ReadDir(filepath.Join(root, entries[0].Name()))
	if err != nil || len(sub) != 1 {
		t.Fatalf("listing the locked dir: %v", err)
	}
	_, err = os.ReadFile(filepath.Join(root, entries[0].Name(), sub[0].Name()))
	if !errors.Is(err, unix.ENOKEY) {
		t.Fatalf("reading a locked file: %v, want ENOKEY", err)
	}
	// The next start unlocks it again.
	start = time.Now()
	if err := m.Ensure(ctx, ns, w, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("unlocked again in %s", time.Since(start))
	if b, err := os.ReadFile(filepath.Join(root, "agents", "secret-notes.txt")); err != nil || !bytes.HasPrefix(b, []byte(marker)) {
		t.Fatalf("after unlock: %v", err)
	}
	// Encryption cannot be switched off by config: the volume stays encrypted.
	if err := m.Ensure(ctx, ns, Want{}, true); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := policyOf(root); !ok || err != nil {
		t.Fatalf("policy after encryption.enabled=false: %v %v", ok, err)
	}
	// Another key is refused rather than mixed in.
	delete(keys.keys, ns)
	if err := m.Lock(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx, ns, w, true); err == nil || !strings.Contains(err.Error(), "encrypted under key") {
		t.Fatalf("Ensure with another key: %v", err)
	}
}

func TestEnableEncryptionMigrates(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	ns := "migrate"
	if err := m.Ensure(ctx, ns, Want{Data: 32 << 20}, true); err != nil {
		t.Fatal(err)
	}
	cleanupNS(t, m, ns)
	root := m.root(ns, Data)
	marker := "clawd-plain-marker-" + time.Now().Format("150405.000000000")
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a", "b", "f"), []byte(marker), 0o600); err != nil {
		t.Fatal(err)
	}
	w := Want{Data: 32 << 20, Encrypt: true}
	if err := m.Ensure(ctx, ns, w, false); !errors.Is(err, ErrNeedsStop) {
		t.Fatalf("enabling encryption while running: %v, want ErrNeedsStop", err)
	}
	// A crash left a half-made copy: it is thrown away.
	if err := os.Mkdir(root+".enc", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx, ns, w, true); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := policyOf(root); !ok {
		t.Fatal("root is not encrypted after the migration")
	}
	if b, err := os.ReadFile(filepath.Join(root, "a", "b", "f")); err != nil || string(b) != marker {
		t.Fatalf("migrated file: %q %v", b, err)
	}
	if exists(root+".old") || exists(root+".enc") {
		t.Fatal("the migration left its temporary directories")
	}
	if err := m.Lock(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(filepath.Join(root, "a", "b", "f")); err == nil {
		t.Fatal("a migrated file reads in plain text with the key removed")
	}
}

func TestRecoverSwap(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	// Crash between the two renames: root.old is all there is.
	if err := os.MkdirAll(root+".old", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root+".old", "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := recoverSwap(root); err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(root, "f")) {
		t.Fatal("root.old was not put back")
	}
	// Crash after both renames: root.old goes.
	if err := os.MkdirAll(root+".old", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := recoverSwap(root); err != nil {
		t.Fatal(err)
	}
	if exists(root+".old") || !exists(filepath.Join(root, "f")) {
		t.Fatal("recovery after the swap")
	}
}

func syncfs(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
}

// What a crash leaves at each step is finished or thrown away by the next
// Ensure: a half-made image, a half-made root, a grow whose file was
// extended but whose filesystem was not.
func TestCrashLeftovers(t *testing.T) {
	m, _ := newManager(t)
	ctx := context.Background()
	ns := "crash"
	if err := os.MkdirAll(m.nsDir(ns), 0o700); err != nil {
		t.Fatal(err)
	}
	// mkfs was killed: a .new image with no filesystem in it.
	if err := os.WriteFile(m.image(ns, Data)+".new", []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx, ns, Want{Data: 32 << 20}, true); err != nil {
		t.Fatal(err)
	}
	cleanupNS(t, m, ns)
	if exists(m.image(ns, Data) + ".new") {
		t.Fatal("the half-made image is left")
	}
	root := m.root(ns, Data)
	if err := os.WriteFile(filepath.Join(root, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A grow interrupted after the file was extended: the marker says so.
	if err := m.Remove(ctx, ns, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(m.image(ns, Data), 48<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.image(ns, Data)+".grow", []byte("50331648"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx, ns, Want{Data: 32 << 20}, true); err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(m.mnt(ns, Data), &st); err != nil {
		t.Fatal(err)
	}
	if size := int64(st.Blocks) * st.Bsize; size < 40<<20 {
		t.Fatalf("the filesystem is %d bytes after the interrupted grow was finished; want about 48 MiB", size)
	}
	if exists(m.image(ns, Data)+".grow") || !exists(filepath.Join(root, "keep")) {
		t.Fatal("grow marker left, or data lost")
	}
}

// versionedWrapper is a key source whose master key rotates: it wraps
// under its current version and opens any older one.
type versionedWrapper struct{ version string }

func (v *versionedWrapper) WrapKey(_ context.Context, plain []byte, c string) (string, error) {
	return v.version + "|" + c + ":" + string(plain), nil
}

func (v *versionedWrapper) UnwrapKey(_ context.Context, w, c string) ([]byte, error) {
	_, rest, _ := strings.Cut(w, "|")
	rest, ok := strings.CutPrefix(rest, c+":")
	if !ok {
		return nil, errors.New("wrong context")
	}
	return []byte(rest), nil
}

// Rotation rewraps the stored key; the volume unlocks as before, no data
// rewritten.
func TestRewrap(t *testing.T) {
	needLoop(t)
	keys := &memKeys{}
	w := &versionedWrapper{version: "v1"}
	m := New(Config{Dir: t.TempDir(), UID: 1000, GID: 1000, Keys: w, KeyStore: keys, EncryptedSize: 32 << 20})
	ctx := context.Background()
	ns := "rotate"
	if err := m.Ensure(ctx, ns, Want{Encrypt: true}, true); err != nil {
		t.Fatal(err)
	}
	cleanupNS(t, m, ns)
	if err := os.WriteFile(filepath.Join(m.root(ns, Data), "f"), []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := keys.keys[ns]
	w.version = "v2"
	if err := m.Rewrap(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if after := keys.keys[ns]; !strings.HasPrefix(before, "v1|") || !strings.HasPrefix(after, "v2|") {
		t.Fatalf("stored key %q → %q, want v1 → v2", before, after)
	}
	if err := m.Lock(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx, ns, Want{Encrypt: true}, true); err != nil {
		t.Fatalf("unlocking with the rewrapped key: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(m.root(ns, Data), "f")); err != nil || string(b) != "kept" {
		t.Fatalf("after rotation: %q %v", b, err)
	}
}
