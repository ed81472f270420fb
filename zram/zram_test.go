package zram

import (
	"os"
	"path/filepath"
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
	after, _ := os.ReadFile("/proc/swaps")
	if string(before) != string(after) {
		t.Fatalf("/proc/swaps changed:\nbefore %s\nafter %s", before, after)
	}
	if _, err := os.Stat(state); err == nil {
		t.Fatal("state file left behind")
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
