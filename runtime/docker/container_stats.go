package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/runtime/cgroupfs"
)

// Stats reads the namespace container's cgroup through the pid Docker
// reports. The cgroup files are read on this host, so clawd must run next
// to the engine (as it does: one daemon per Docker host).
func (r *Runtime) Stats(ctx context.Context, ns string) (runtime.Stats, error) {
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("reading stats of gateway %s: %w", ns, err)
	}
	if c.State == nil || c.State.Pid == 0 {
		return runtime.Stats{}, fmt.Errorf("reading stats of gateway %s: container is %s, not running: %w", ns, status(c), cerrdefs.ErrFailedPrecondition)
	}
	st, err := cgroupfs.ReadPid(c.State.Pid)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("reading stats of gateway %s: %w", ns, err)
	}
	return st, nil
}
