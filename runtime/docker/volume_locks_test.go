package docker

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The lock cleanup runs as root over a volume a tenant's gateway writes:
// symlinks the tenant planted there must not lead it out of the volume.
func TestRemoveLockFilesStaysInTheVolume(t *testing.T) {
	vol, outside := t.TempDir(), t.TempDir()
	files := map[string]string{ // path -> what it is
		filepath.Join(vol, "gateway.1.lock"):            "stale",
		filepath.Join(vol, "agents", "gateway.2.lock"):  "stale",
		filepath.Join(vol, "agents", "notes.txt"):       "kept",
		filepath.Join(vol, "a", "b", "gateway.3.lock"):  "kept", // deeper than the patterns reach
		filepath.Join(outside, "gateway.9.lock"):        "host",
		filepath.Join(outside, "victim"):                "host",
		filepath.Join(outside, "sub", "gateway.8.lock"): "host",
	}
	for p := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		filepath.Join(vol, "escape"):         outside,                          // a directory out of the volume
		filepath.Join(vol, "gateway.4.lock"): filepath.Join(outside, "victim"), // a lock that is a symlink out
		filepath.Join(vol, "agents", "up"):   filepath.Join(outside, "sub"),    // one level down, out
		filepath.Join(vol, "loop"):           vol,                              // back into the volume
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}

	removeLockFiles(vol)

	for p, what := range files {
		_, err := os.Stat(p)
		switch {
		case what == "stale" && err == nil:
			t.Errorf("%s was not removed", p)
		case what != "stale" && err != nil:
			t.Errorf("%s (%s) is gone: %v", p, what, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(vol, "gateway.4.lock")); err == nil {
		t.Error("the lock that is a symlink is still there")
	}
	if got, _ := os.ReadDir(outside); !slices.ContainsFunc(got, func(e os.DirEntry) bool { return e.Name() == "victim" }) {
		t.Error("the symlinked lock's target was removed")
	}
}
