package docker

import (
	"context"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/types/container"
)

// lockPattern names the lock files OpenClaw leaves behind after an unclean
// stop (SIGKILL, OOM, host crash), in the state dir or one directory down; a
// stale one blocks the next start.
const lockPattern = "gateway.*.lock"

// removeStaleLocks deletes gateway lock files from the state volume the
// container mounts (an adopted spare's, or the namespace's own). It runs
// only while the container is not running, so no live gateway holds them.
// Volumes the host cannot see (remote drivers) are left alone.
func (r *Runtime) removeStaleLocks(ctx context.Context, log hclog.Logger, c container.InspectResponse) {
	data, _ := mountedVolumes(c)
	if data == "" {
		return
	}
	v, err := r.inspectVolume(ctx, data)
	if err != nil || v.Driver != "local" || v.Mountpoint == "" {
		return
	}
	for _, m := range removeLockFiles(v.Mountpoint) {
		log.Info("removed stale gateway lock", "volume", data, "file", m)
	}
}

// removeLockFiles removes the lock files in dir and its subdirectories
// (not deeper) and returns the ones it removed. dir is a tenant's volume and
// this runs as root, so it never follows a symlink: a directory entry that
// is one is not entered, a lock that is one is removed itself, and every
// name is resolved under dir with os.Root, which refuses to leave it even if
// an entry is swapped for a symlink meanwhile.
func removeLockFiles(dir string) []string {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil
	}
	defer root.Close()
	var removed []string
	var walk func(sub string, deeper bool)
	walk = func(sub string, deeper bool) {
		f, err := root.Open(sub)
		if err != nil {
			return
		}
		entries, err := f.ReadDir(-1)
		f.Close()
		if err != nil {
			return
		}
		for _, e := range entries {
			name := filepath.Join(sub, e.Name())
			switch t := e.Type(); {
			case t.IsDir():
				if deeper {
					walk(name, false)
				}
			case t.IsRegular() || t&os.ModeSymlink != 0:
				if ok, _ := filepath.Match(lockPattern, e.Name()); ok && root.Remove(name) == nil {
					removed = append(removed, filepath.Join(dir, name))
				}
			}
		}
	}
	walk(".", true)
	return removed
}
