package cgroupfs

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeMemoryDir is a v1 memory cgroup directory as files: writes land, and
// nothing is reclaimed (the kernel's part is the integration tests').
func fakeMemoryDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	s, err := readFile(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A squeeze puts the cap back and leaves the cgroup with swappiness 0: a
// thawed gateway must not swap on its own; swap accounting stays lifted
// while its pages are in swap.
func TestSqueezeV1RestoresTheCap(t *testing.T) {
	dir := fakeMemoryDir(t, map[string]string{
		"memory.limit_in_bytes":       "268435456",
		"memory.memsw.limit_in_bytes": "268435456",
		"memory.swappiness":           "60",
		"memory.usage_in_bytes":       "104857600",
	})
	if err := squeezeV1(dir, 16<<20); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"memory.limit_in_bytes":       "268435456",
		"memory.memsw.limit_in_bytes": "-1",
		"memory.swappiness":           "0",
	} {
		if got := read(t, dir, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
}

func TestKeepResident(t *testing.T) {
	t.Run("v1", func(t *testing.T) {
		dir := fakeMemoryDir(t, map[string]string{
			"memory.limit_in_bytes":       "268435456",
			"memory.memsw.limit_in_bytes": "-1",
			"memory.swappiness":           "100",
			"memory.stat":                 "total_rss 1000\ntotal_cache 24\ntotal_swap 4096\n",
			"memory.usage_in_bytes":       "2048",
		})
		if err := keepResidentV1(dir); err != nil {
			t.Fatal(err)
		}
		if s := read(t, dir, "memory.swappiness"); s != "0" {
			t.Errorf("swappiness %s, want 0", s)
		}
		if s := read(t, dir, "memory.memsw.limit_in_bytes"); s != "268435456" {
			t.Errorf("swap accounting limit %s, want the memory cap", s)
		}
		m, err := readMemoryV1(dir)
		if err != nil || m != (Memory{Resident: 2048, Swapped: 4096}) {
			t.Errorf("memory %+v, %v", m, err)
		}
	})
	t.Run("v1 uncapped", func(t *testing.T) {
		dir := fakeMemoryDir(t, map[string]string{
			"memory.limit_in_bytes":       "9223372036854771712",
			"memory.memsw.limit_in_bytes": "9223372036854771712",
			"memory.swappiness":           "60",
		})
		if err := keepResidentV1(dir); err != nil {
			t.Fatal(err)
		}
		if s := read(t, dir, "memory.swappiness"); s != "0" {
			t.Errorf("swappiness %s, want 0", s)
		}
	})
}

// A gateway that holds no more than a squeeze keeps is left as it is, and
// that is no failure.
func TestSqueezeV1OfASmallGateway(t *testing.T) {
	for _, tc := range []struct{ name, limit, usage string }{
		{"uses less than kept", "268435456", "8388608"},
		{"capped at what is kept", "134217728", "100000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := fakeMemoryDir(t, map[string]string{
				"memory.limit_in_bytes":       tc.limit,
				"memory.memsw.limit_in_bytes": tc.limit,
				"memory.swappiness":           "0",
				"memory.usage_in_bytes":       tc.usage,
			})
			if err := squeezeV1(dir, 128<<20); err != nil {
				t.Fatal(err)
			}
			if got := read(t, dir, "memory.memsw.limit_in_bytes"); got != tc.limit {
				t.Errorf("swap accounting opened (%s) with nothing to squeeze", got)
			}
		})
	}
}
