package zram

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/clawd-dev/clawd/internal/testenv"
)

func TestParseMMStat(t *testing.T) {
	// A real mm_stat line: orig, compr, mem_used, limit, max_used, same,
	// compacted, huge, huge_since.
	p, err := parseMMStat("706740224 264257536 270729216        0 270729216    12345        0        0        0\n")
	if err != nil {
		t.Fatal(err)
	}
	if p != (Pool{Original: 706740224, Compressed: 264257536, Used: 270729216}) {
		t.Fatalf("pool = %+v", p)
	}
	if _, err := parseMMStat("1 2"); err == nil {
		t.Fatal("a short mm_stat was accepted")
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{{"auto", true}, {"off", true}, {"", true}, {"4Gi", true}, {"1Mi", false}, {"lots", false}} {
		t.Run(tc.in, func(t *testing.T) {
			if err := ParseSize(tc.in); (err == nil) != tc.ok {
				t.Fatalf("ParseSize(%q) = %v", tc.in, err)
			}
		})
	}
}

func TestOffAndNotRoot(t *testing.T) {
	d := Setup(Options{Size: "off", StateFile: filepath.Join(t.TempDir(), "zram.json")})
	if d.Unavailable() == "" || d.Status().Enabled {
		t.Fatalf("off gave a device: %+v", d.Status())
	}
}

// TestSetupAdoptRelease makes a real device, finds it again as a restarted
// clawd would, and removes it; the host's other swap is never touched.
func TestSetupAdoptRelease(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to make a zram device")
	}
	if _, err := os.Stat("/sys/class/zram-control/hot_add"); err != nil {
		testenv.Missing(t, "the kernel has no zram-control: %v", err)
	}
	recorded := map[int]bool{} // clawd's devices: a sweep may remove them
	if entries, err := os.ReadDir(registryDir); err == nil {
		for _, e := range entries {
			var num int
			if _, err := fmt.Sscanf(e.Name(), "zram%d.json", &num); err == nil {
				recorded[num] = true
			}
		}
	}
	before, _ := os.ReadFile("/proc/swaps")
	state := filepath.Join(t.TempDir(), "zram.json")
	d := Setup(Options{Size: "64Mi", StateFile: state})
	t.Cleanup(func() { _ = Release(state) })
	st := d.Status()
	if !st.Enabled || st.DiskSize != 64<<20 || st.Algorithm == "" {
		t.Fatalf("status = %+v", st)
	}
	if active, _ := swapActive(st.Device); !active {
		t.Fatalf("%s is not in /proc/swaps", st.Device)
	}
	again := Setup(Options{Size: "64Mi", StateFile: state})
	if again.Status().Device != st.Device {
		t.Fatalf("a restart made %s instead of finding %s", again.Status().Device, st.Device)
	}
	if err := Release(state); err != nil {
		t.Fatal(err)
	}
	if active, _ := swapActive(st.Device); active {
		t.Fatalf("%s still swap after Release", st.Device)
	}
	// Every swap area that was there before is still there, but for
	// leftovers of crashed clawds that another test's daemon may have
	// swept meanwhile (they are recorded as clawd's).
	after, _ := os.ReadFile("/proc/swaps")
	for _, line := range strings.Split(string(before), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) == 0 || strings.Contains(string(after), f[0]+" ") {
			continue
		}
		var num int
		if _, err := fmt.Sscanf(f[0], "/dev/zram%d", &num); err == nil && recorded[num] {
			continue
		}
		t.Fatalf("%s was swap before and is not any more:\nbefore %s\nafter %s", f[0], before, after)
	}
	if _, err := os.Stat(state); err == nil {
		t.Fatal("state file left behind")
	}
}

// TestSweepRemovesOrphans: a device whose data dir went away without a
// Release (a crashed test) is removed by the next Setup on the host; a
// device whose owner still has its state file is kept.
func TestSweepRemovesOrphans(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to make a zram device")
	}
	if _, err := os.Stat("/sys/class/zram-control/hot_add"); err != nil {
		testenv.Missing(t, "the kernel has no zram-control: %v", err)
	}
	old := registryDir
	registryDir = t.TempDir()
	t.Cleanup(func() { registryDir = old })

	kept := filepath.Join(t.TempDir(), "zram.json")
	orphanDir := t.TempDir()
	orphan := filepath.Join(orphanDir, "zram.json")
	k := Setup(Options{Size: "32Mi", StateFile: kept})
	t.Cleanup(func() { _ = Release(kept) })
	o := Setup(Options{Size: "32Mi", StateFile: orphan})
	t.Cleanup(func() { _ = Release(orphan) })
	if !k.Status().Enabled || !o.Status().Enabled {
		t.Fatalf("devices not made: %+v %+v", k.Status(), o.Status())
	}
	if err := os.RemoveAll(orphanDir); err != nil { // the crash: no Release
		t.Fatal(err)
	}

	third := filepath.Join(t.TempDir(), "zram.json")
	n := Setup(Options{Size: "32Mi", StateFile: third})
	t.Cleanup(func() { _ = Release(third) })
	if !n.Status().Enabled {
		t.Fatalf("third device: %+v", n.Status())
	}
	if active, _ := swapActive(o.Status().Device); active && o.Status().Device != n.Status().Device {
		t.Fatalf("orphaned %s still swap after the next Setup", o.Status().Device)
	}
	if _, err := os.Stat(recordPath(o.num)); err == nil && o.num != n.num {
		t.Fatal("the orphan's record is still there")
	}
	if active, _ := swapActive(k.Status().Device); !active {
		t.Fatalf("%s, still owned, was removed", k.Status().Device)
	}
	for _, st := range []string{kept, third} {
		if err := Release(st); err != nil {
			t.Fatal(err)
		}
	}
	if left, _ := os.ReadDir(registryDir); len(left) != 0 {
		t.Fatalf("records left after Release: %v", left)
	}
}

func TestSwaponErrorExplainsTheLimit(t *testing.T) {
	err := swaponError("/dev/zram9", syscall.EINVAL)
	if strings.Contains(err.Error(), "limit") {
		t.Fatalf("EINVAL blamed on the limit: %v", err)
	}
}

// TestCompressedEstimate: a cgroup's swapped bytes are charged at the
// pool's compression ratio, never above what was swapped, whatever the
// allocator holds beyond the compressed data.
func TestCompressedEstimate(t *testing.T) {
	sys := t.TempDir()
	block := filepath.Join(sys, "block", "zram0")
	if err := os.MkdirAll(block, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &Device{sys: sys, num: 0}
	for _, tc := range []struct {
		mmStat        string
		swapped, want uint64
	}{
		{"104857600 31457280 524288000 0 0 0 0 0 0", 10 << 20, 3 << 20},   // used far above compressed: ratio 0.3
		{"104857600 125829120 130000000 0 0 0 0 0 0", 10 << 20, 10 << 20}, // incompressible: at most 1×
		{"0 0 0 0 0 0 0 0 0", 9 << 20, 3 << 20},                           // empty pool: 3×
	} {
		if err := os.WriteFile(filepath.Join(block, "mm_stat"), []byte(tc.mmStat+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := d.Compressed(tc.swapped); got != tc.want {
			t.Errorf("mm_stat %q: Compressed(%d) = %d, want %d", tc.mmStat, tc.swapped, got, tc.want)
		}
	}
}

func TestChooseAlgorithm(t *testing.T) {
	block := t.TempDir()
	if err := os.WriteFile(filepath.Join(block, "comp_algorithm"), []byte("lzo-rle lzo [lz4] \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ want, got, err string }{
		{"auto", "lzo-rle", ""}, {"", "lzo-rle", ""}, {"lz4", "lz4", ""}, {"lzo", "lzo", ""},
		{"zstd", "", "the kernel offers no zstd compressor (it offers lzo-rle, lzo, lz4)"},
	} {
		got, err := chooseAlgorithm(block, tc.want)
		if got != tc.got || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("chooseAlgorithm(%q) = %q, %v; want %q, %q", tc.want, got, err, tc.got, tc.err)
		}
	}
	if err := os.WriteFile(filepath.Join(block, "comp_algorithm"), []byte("[lz4] zstd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := chooseAlgorithm(block, "auto"); got != "lz4" {
		t.Errorf("auto without lzo-rle chose %q, want lz4", got)
	}
	for in, ok := range map[string]bool{"auto": true, "lz4": true, "lzo-rle": true, "LZ4; rm": false, "a/b": false} {
		if err := ParseAlgorithm(in); (err == nil) != ok {
			t.Errorf("ParseAlgorithm(%q) = %v", in, err)
		}
	}
}
