package docker

import (
	"context"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/types/container"
)

// lockPatterns are the lock files OpenClaw leaves behind after an unclean
// stop (SIGKILL, OOM, host crash); a stale one blocks the next start.
var lockPatterns = []string{"gateway.*.lock", "*/gateway.*.lock"}

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
	for _, p := range lockPatterns {
		matches, _ := filepath.Glob(filepath.Join(v.Mountpoint, p))
		for _, m := range matches {
			if err := os.Remove(m); err == nil {
				log.Info("removed stale gateway lock", "volume", data, "file", m)
			}
		}
	}
}
