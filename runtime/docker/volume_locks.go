package docker

import (
	"context"
	"os"
	"path/filepath"
)

// lockPatterns are the lock files OpenClaw leaves behind after an unclean
// stop (SIGKILL, OOM, host crash); a stale one blocks the next start.
var lockPatterns = []string{"gateway.*.lock", "*/gateway.*.lock"}

// removeStaleLocks deletes gateway lock files from the namespace's state
// volume. It runs only while the container is not running, so no live
// gateway holds them. Volumes the host cannot see (remote drivers) are left
// alone.
func (r *Runtime) removeStaleLocks(ctx context.Context, ns string) {
	v, err := r.inspectVolume(ctx, r.volumeName(ns, roleData))
	if err != nil || v.Driver != "local" || v.Mountpoint == "" {
		return
	}
	for _, p := range lockPatterns {
		matches, _ := filepath.Glob(filepath.Join(v.Mountpoint, p))
		for _, m := range matches {
			if err := os.Remove(m); err == nil {
				r.log.Info("removed stale gateway lock", "namespace", ns, "file", m)
			}
		}
	}
}
