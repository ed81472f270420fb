package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/clawd-dev/clawd/internal/testenv"
	"github.com/clawd-dev/clawd/retention"
)

// stateDir is where the stand-in keeps its state (the data volume).
const stateDir = "/home/node/.openclaw"

// needVolumes skips (or fails under CLAWD_REQUIRE_DOCKER) where clawd
// cannot make loop-backed volumes: it needs root and e2fsprogs.
func needVolumes(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "capped volumes need root (loop devices, mount)")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		testenv.Missing(t, "mkfs.ext4 not installed (e2fsprogs)")
	}
}

// unmountVolumes unmounts the capped volumes clawd mounted under this
// daemon's data dir (their loop devices go with them: autoclear). Only
// mounts below the test's own temporary dir are touched.
func (d *daemon) unmountVolumes() {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mine []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], d.dir+"/") {
			mine = append(mine, f[4])
		}
	}
	slices.Sort(mine)
	slices.Reverse(mine) // deepest first
	for _, m := range mine {
		if err := unix.Unmount(m, 0); err != nil {
			d.t.Logf("unmounting %s: %v", m, err)
		}
	}
}

// standinExec runs the stand-in binary's helper commands (fill, write)
// inside the gateway container: it has no shell and no dd.
func standinExec(t *testing.T, container string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("docker", append([]string{"exec", container, "/standin"}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// written parses "written N bytes" from standin fill.
func written(t *testing.T, out string) int64 {
	t.Helper()
	m := regexp.MustCompile(`written (\d+) bytes`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("standin fill said %q", out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// tookIn returns the durations the daemon logged for msg (its took=).
func (d *daemon) tookIn(msg string) []string {
	var out []string
	re := regexp.MustCompile(`took=(\S+)`)
	for _, line := range strings.Split(d.log(), "\n") {
		if strings.Contains(line, msg) {
			if m := re.FindStringSubmatch(line); m != nil {
				out = append(out, m[1])
			}
		}
	}
	return out
}

// guideQuota is the guide's tenant-a quota file with its data cap set to
// data.
func guideQuota(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile("../configs/tenant-a-quota.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "data: 10Gi", "data: "+data, 1)
	if s == string(b) {
		t.Fatal("the guide's quota file no longer says data: 10Gi")
	}
	return writeQuota(t, s)
}

// Issue 10's storage caps on the real engine: the guide's quota file with
// a 64 MiB data cap moves a running gateway's data onto a capped volume;
// a write past the cap fails with ENOSPC inside the gateway while a
// neighbour without a cap writes 100 MiB; growing keeps the data;
// shrinking below what is used is refused; a restart of clawd after the
// volume was unmounted (a reboot) mounts it again and the gateway comes
// back with its data.
func TestStorageCaps(t *testing.T) {
	needVolumes(t)
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "tenant-a", "--hostname=tenant-a.localhost")
	d.mustClawd("namespace", "create", "roomy", "--hostname=roomy.localhost")
	before := d.waitPhase("tenant-a", "Running", time.Minute)
	neighbour := d.waitPhase("roomy", "Running", time.Minute)
	if out, err := standinExec(t, before.Status.ContainerID, "write", stateDir+"/marker", "from-the-docker-volume"); err != nil {
		t.Fatalf("writing a marker: %v %s", err, out)
	}

	start := time.Now()
	d.mustClawd("namespace", "apply-quota", "tenant-a", "--from="+guideQuota(t, "64Mi"))
	var capped nsView
	eventually(t, 90*time.Second, "tenant-a re-created on its capped volume", func() bool {
		capped = d.get("tenant-a")
		return capped.Status.Phase == "Running" && capped.Status.ContainerID != before.Status.ContainerID
	})
	t.Logf("apply-quota to Running on the capped volume: %s (volume made in %v)", time.Since(start), d.tookIn("volume made"))
	bind := filepath.Join(d.dir, "volumes", "tenant-a", "data", "root")
	if got := dockerInspect(t, `{{range .Mounts}}{{if eq .Destination "`+stateDir+`"}}{{.Type}} {{.Source}}{{end}}{{end}}`, capped.Status.ContainerID); got != "bind "+bind {
		t.Fatalf("the state dir is mounted from %q, want the capped volume %s", got, bind)
	}
	if b, err := os.ReadFile(filepath.Join(bind, "marker")); err != nil || string(b) != "from-the-docker-volume" {
		t.Fatalf("the data did not move onto the capped volume: %q %v", b, err)
	}

	t.Run("ENOSPC inside the gateway, not its neighbour", func(t *testing.T) {
		start := time.Now()
		out, err := standinExec(t, capped.Status.ContainerID, "fill", stateDir+"/big", "100")
		if err == nil || !strings.Contains(out, "no space left on device") {
			t.Fatalf("writing 100 MiB into a 64 MiB volume: %v %q, want ENOSPC", err, out)
		}
		n := written(t, out)
		t.Logf("capped gateway: %s after %d bytes (%.1f MiB) in %s", "ENOSPC", n, float64(n)/(1<<20), time.Since(start))
		if n > 64<<20 || n < 40<<20 {
			t.Fatalf("wrote %d bytes before ENOSPC; want most of 64 MiB", n)
		}
		start = time.Now()
		out, err = standinExec(t, neighbour.Status.ContainerID, "fill", stateDir+"/big", "100")
		if err != nil || written(t, out) != 100<<20 {
			t.Fatalf("the neighbour writing 100 MiB: %v %q", err, out)
		}
		t.Logf("neighbour: 100 MiB written in %s", time.Since(start))
		q := d.quotas("tenant-a")["storage.data"]
		if !q.Enforced || q.Limit != 64<<20 || q.Used == nil || *q.Used < 40<<20 || *q.Used > 64<<20 {
			t.Fatalf("quota-status storage.data = %+v", q)
		}
		t.Logf("quota-status storage.data: used %d of %d", *q.Used, q.Limit)
		if out, err := standinExec(t, capped.Status.ContainerID, "fill", stateDir+"/big", "0"); err != nil {
			t.Fatalf("emptying the big file: %v %s", err, out)
		}
	})

	t.Run("grow keeps the data; shrink below used refused", func(t *testing.T) {
		if out, err := standinExec(t, capped.Status.ContainerID, "fill", stateDir+"/keep", "40"); err != nil {
			t.Fatalf("writing 40 MiB: %v %s", err, out)
		}
		boots := bootCount(t, capped.Status.Address)
		start := time.Now()
		d.mustClawd("namespace", "apply-quota", "tenant-a", "--from="+guideQuota(t, "128Mi"))
		var grown nsView
		eventually(t, 60*time.Second, "the volume grown to 128 MiB", func() bool {
			fi, err := os.Stat(filepath.Join(d.dir, "volumes", "tenant-a", "data.img"))
			_, pending := os.Stat(filepath.Join(d.dir, "volumes", "tenant-a", "data.img.grow"))
			grown = d.get("tenant-a")
			return err == nil && fi.Size() == 128<<20 && errors.Is(pending, os.ErrNotExist) &&
				grown.Status.Phase == "Running" && (canGrowOnline() || bootCount(t, grown.Status.Address) > boots)
		})
		t.Logf("apply-quota 64→128 MiB to Running again: %s (grow %v)", time.Since(start), d.tookIn("volume grown"))
		if fi, err := os.Stat(filepath.Join(bind, "keep")); err != nil || fi.Size() != 40<<20 {
			t.Fatalf("data after the grow: %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(bind, "marker")); string(b) != "from-the-docker-volume" {
			t.Fatalf("marker after the grow: %q", b)
		}
		out, err := standinExec(t, grown.Status.ContainerID, "fill", stateDir+"/more", "60")
		if err != nil {
			t.Fatalf("writing 60 MiB more after the grow: %v %s", err, out)
		}
		_, stderr, err := d.clawd("namespace", "apply-quota", "tenant-a", "--from="+guideQuota(t, "64Mi"))
		if err == nil || !strings.Contains(stderr, "quotas.storage.data: 64Mi is below the") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Fatalf("shrinking below what is used: %v %q, want one line refusing it", err, stderr)
		}
		t.Logf("shrink refused: %s", strings.TrimSpace(stderr))
		_, stderr, err = d.clawd("namespace", "apply-quota", "tenant-a", "--from="+guideQuota(t, "127Mi"))
		if err == nil || !strings.Contains(stderr, "cannot shrink") {
			t.Fatalf("shrinking above what is used: %v %q", err, stderr)
		}
		if q := d.quotas("tenant-a")["storage.data"]; q.Limit != 128<<20 {
			t.Fatalf("a refused quota changed the limit: %+v", q)
		}
	})

	t.Run("clawd restart after a reboot mounts it again", func(t *testing.T) {
		v := d.get("tenant-a")
		boots := bootCount(t, v.Status.Address)
		d.stop()
		if out, err := exec.Command("docker", "stop", "-t", "5", v.Status.ContainerID).CombinedOutput(); err != nil {
			t.Fatalf("docker stop: %v %s", err, out)
		}
		d.unmountVolumes() // what a reboot leaves: nothing mounted, no loop device
		if _, err := os.Stat(filepath.Join(bind, "marker")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the volume is still mounted: %v", err)
		}
		start := time.Now()
		d.start()
		// The status still says Running from before: wait for the gateway
		// itself to answer, booted once more.
		var back nsView
		eventually(t, time.Minute, "tenant-a back with its boot counter", func() bool {
			back = d.get("tenant-a")
			return back.Status.Phase == "Running" && bootCount(t, back.Status.Address) == boots+1
		})
		t.Logf("clawd up to tenant-a answering after a reboot: %s", time.Since(start))
		if b, err := os.ReadFile(filepath.Join(bind, "marker")); err != nil || string(b) != "from-the-docker-volume" {
			t.Fatalf("marker after the restart: %q %v", b, err)
		}
	})

	t.Run("purge removes the images", func(t *testing.T) {
		d.mustClawd("namespace", "delete", "tenant-a", "--purge")
		eventually(t, 60*time.Second, "tenant-a's images removed", func() bool {
			_, err := os.Stat(filepath.Join(d.dir, "volumes", "tenant-a"))
			return errors.Is(err, os.ErrNotExist)
		})
	})
}

// Issue 13's volume encryption: turning it on for a namespace with data
// moves the data into an fscrypt-encrypted directory; a marker the
// gateway writes is not in the backing image in plain text; once the
// namespace is stopped its files read as ciphertext on the host; a wake
// brings them back.
func TestVolumeEncryption(t *testing.T) {
	needVolumes(t)
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "secretive", "--hostname=secretive.localhost")
	before := d.waitPhase("secretive", "Running", time.Minute)
	early := "plain-before-encryption-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if out, err := standinExec(t, before.Status.ContainerID, "write", stateDir+"/early-notes.txt", early); err != nil {
		t.Fatalf("%v %s", err, out)
	}

	start := time.Now()
	d.mustClawd("config", "set", "namespaces.secretive.encryption.enabled", "true")
	var enc nsView
	eventually(t, 90*time.Second, "secretive re-created on an encrypted volume", func() bool {
		enc = d.get("secretive")
		return enc.Status.Phase == "Running" && enc.Status.ContainerID != before.Status.ContainerID
	})
	t.Logf("encryption enabled to Running with the data moved: %s (volume made in %v)", time.Since(start), d.tookIn("volume made"))
	root := filepath.Join(d.dir, "volumes", "secretive", "data", "root")
	image := filepath.Join(d.dir, "volumes", "secretive", "data.img")
	if b, err := os.ReadFile(filepath.Join(root, "early-notes.txt")); err != nil || string(b) != early {
		t.Fatalf("the data written before encryption did not move: %q %v", b, err)
	}
	if out, err := exec.Command("docker", "volume", "inspect", "clawd-"+d.cluster+"-secretive-data").CombinedOutput(); err == nil {
		t.Fatalf("the plain Docker volume is still there after its files moved into the encrypted one:\n%s", out)
	}
	marker := "gateway-secret-marker-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if out, err := standinExec(t, enc.Status.ContainerID, "write", stateDir+"/secret-notes.txt", strings.Repeat(marker+"\n", 64)); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	// The control: a file written in plain beside the encrypted dir is
	// found by the same scan, so a miss below means ciphertext.
	control := "plain-control-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	controlFile := filepath.Join(filepath.Dir(root), ".test-control")
	if err := os.WriteFile(controlFile, []byte(control), 0o600); err != nil {
		t.Fatal(err)
	}
	unix.Sync()
	if found, _ := imageHolds(t, image, control); !found {
		t.Fatal("the scan does not find a plain file's contents in the image; it proves nothing")
	}
	if err := os.Remove(controlFile); err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{marker, early, "secret-notes.txt", "standin-boot-count"} {
		if found, scanned := imageHolds(t, image, needle); found {
			t.Fatalf("%q is in the backing image in plain text", needle)
		} else if needle == marker {
			t.Logf("scanned %d MiB of the image's data extents: no plain text", scanned>>20)
		}
	}

	// Legacy files retention removes, two months old, and a recent log
	// it keeps: written from the host while the key is in the kernel.
	longAgo := time.Now().Add(-60 * 24 * time.Hour)
	oldFiles := []string{"logs/old-commands.log", "agents/main/sessions/legacy-session.jsonl"}
	for _, f := range append(oldFiles, "logs/recent.log") {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("retained-until-cleanup "+f), 0o600); err != nil {
			t.Fatal(err)
		}
		if f != "logs/recent.log" {
			if err := os.Chtimes(p, longAgo, longAgo); err != nil {
				t.Fatal(err)
			}
		}
	}

	d.mustClawd("namespace", "sleep", "secretive", "--to=stopped")
	d.waitPhase("secretive", "Stopped", 30*time.Second)
	eventually(t, 10*time.Second, "the files to read as ciphertext", func() bool {
		_, err := os.ReadFile(filepath.Join(root, "secret-notes.txt"))
		return errors.Is(err, os.ErrNotExist)
	})
	entries, err := os.ReadDir(root)
	if err != nil || len(entries) == 0 {
		t.Fatalf("listing the locked volume: %v", err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), "notes") || strings.Contains(e.Name(), "standin") || strings.Contains(e.Name(), "openclaw") {
			t.Fatalf("a name reads in plain text with the key removed: %q", e.Name())
		}
		if e.Type().IsRegular() {
			_, err := os.ReadFile(filepath.Join(root, e.Name()))
			if !errors.Is(err, unix.ENOKEY) {
				t.Fatalf("reading %s with the key removed: %v, want ENOKEY", e.Name(), err)
			}
		}
	}
	t.Logf("stopped: %d entries with scrambled names, contents ENOKEY (e.g. %q)", len(entries), entries[0].Name())

	// A cleanup of the stopped namespace unlocks its volume for the
	// sweep: the old legacy files go, and the key leaves the kernel again.
	start = time.Now()
	out, stderr, err := d.clawd("namespace", "cleanup", "secretive", "--older-than=30d", "--dry-run=false", "-o", "json")
	if err != nil {
		t.Fatalf("cleanup of the stopped encrypted namespace: %v, %s", err, stderr)
	}
	t.Logf("cleanup of the stopped encrypted namespace (unlock, sweep, lock): %s", time.Since(start))
	var rep retention.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Kinds) != 3 || rep.DryRun {
		t.Fatalf("cleanup printed %q: %v", out, err)
	}
	removed := map[string]bool{}
	for _, k := range rep.Kinds {
		if k.Error != "" {
			t.Errorf("cleanup, %s: error %q", k.Kind, k.Error)
		}
		for _, it := range k.Items {
			removed[it.Path] = true
		}
	}
	for _, f := range oldFiles {
		if !removed[f] {
			t.Errorf("the cleanup did not report %s removed (removed: %v)", f, removed)
		}
	}
	if removed["logs/recent.log"] {
		t.Error("the cleanup removed a recent log")
	}
	if _, err := os.ReadFile(filepath.Join(root, "secret-notes.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after the cleanup the volume is still readable: %v; want it locked again", err)
	}

	start = time.Now()
	d.mustClawd("namespace", "wake", "secretive")
	back := d.waitPhase("secretive", "Running", time.Minute)
	t.Logf("wake from Stopped (mount check + key add + start) to Running: %s", time.Since(start))
	if b, err := os.ReadFile(filepath.Join(root, "secret-notes.txt")); err != nil || !bytes.HasPrefix(b, []byte(marker)) {
		t.Fatalf("after the wake: %v", err)
	}
	for _, f := range oldFiles {
		if _, err := os.Stat(filepath.Join(root, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after the cleanup and the wake, %s: %v; want it gone", f, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "logs", "recent.log")); err != nil || !strings.HasPrefix(string(b), "retained-until-cleanup") {
		t.Errorf("the recent log after the wake: %q %v", b, err)
	}
	if bootCount(t, back.Status.Address) < 2 {
		t.Fatal("the boot counter did not survive")
	}

	// Figures (logged, not asserted): a cold start and a wake from
	// Stopped of a namespace with an encrypted volume (image made, mkfs,
	// loop, mount, key added) against one with plain Docker volumes.
	// A namespace's own key needs the namespace to exist, so cold-enc is
	// encrypted from birth by the wildcard (cold-plain opted out first).
	for _, ns := range []string{"cold-plain", "cold-enc"} {
		if ns == "cold-enc" {
			d.mustClawd("config", "set", "namespaces.cold-plain.encryption.enabled", "false")
			d.mustClawd("config", "set", "namespaces.*.encryption.enabled", "true")
		}
		start := time.Now()
		d.mustClawd("namespace", "create", ns)
		cold := time.Since(start)
		d.mustClawd("namespace", "sleep", ns, "--to=stopped")
		d.waitPhase(ns, "Stopped", 30*time.Second)
		start = time.Now()
		d.mustClawd("namespace", "wake", ns)
		t.Logf("%s: cold start %s, wake from Stopped %s", ns, cold, time.Since(start))
	}
	t.Logf("volumes made ready before each start (took): %v", d.tookIn("volumes ready: namespace=cold-enc"))
	if _, err := os.Stat(filepath.Join(d.dir, "volumes", "cold-enc", "data.img")); err != nil {
		t.Fatalf("cold-enc has no encrypted volume: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "volumes", "cold-plain")); err == nil {
		t.Fatal("cold-plain, which opted out, got a volume")
	}
}

// imageHolds reports whether needle is in the image's data extents (the
// image is sparse: holes are skipped) and how many bytes were read.
func imageHolds(t *testing.T, image, needle string) (bool, int64) {
	t.Helper()
	f, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	var off, scanned int64
	buf := make([]byte, 4<<20)
	for off < fi.Size() {
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err != nil { // ENXIO: no data after off
			break
		}
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		// Overlap chunks so a needle across a boundary is found.
		for pos := data; pos < hole; pos += int64(len(buf) - len(needle)) {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), hole-pos)], pos)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			scanned += int64(n)
			if bytes.Contains(buf[:n], []byte(needle)) {
				return true, scanned
			}
			if int64(n) < int64(len(buf)) {
				break
			}
		}
		off = hole
	}
	return false, scanned
}

// canGrowOnline mirrors volumes: growing a mounted ext4 needs
// CAP_SYS_RESOURCE; without it clawd restarts the gateway around the grow.
func canGrowOnline() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_SYS_RESOURCE/32].Effective&(1<<(unix.CAP_SYS_RESOURCE%32)) != 0
}
