package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/runtime/cgroupfs"
)

var _ runtime.Squeezer = (*Runtime)(nil)

// pid is the namespace container's main process, for its cgroup; a
// paused container keeps its pid.
func (r *Runtime) pid(ctx context.Context, ns, what string) (int, error) {
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return 0, fmt.Errorf("%s gateway %s: %w", what, ns, err)
	}
	if c.State == nil || c.State.Pid == 0 {
		return 0, fmt.Errorf("%s gateway %s: container is %s, not running: %w", what, ns, status(c), cerrdefs.ErrFailedPrecondition)
	}
	return c.State.Pid, nil
}

// Squeeze pushes the paused gateway's memory into swap (cgroupfs.Squeeze).
func (r *Runtime) Squeeze(ctx context.Context, ns string, keep uint64) (runtime.Memory, error) {
	pid, err := r.pid(ctx, ns, "squeezing")
	if err != nil {
		return runtime.Memory{}, err
	}
	m, err := cgroupfs.Squeeze(pid, keep)
	if err != nil {
		return runtime.Memory{}, fmt.Errorf("squeezing gateway %s: %w", ns, err)
	}
	return runtime.Memory(m), nil
}

// KeepResident closes swap to the gateway's cgroup (cgroupfs.KeepResident).
func (r *Runtime) KeepResident(ctx context.Context, ns string) error {
	pid, err := r.pid(ctx, ns, "closing swap of")
	if err != nil {
		return err
	}
	if err := cgroupfs.KeepResident(pid); err != nil {
		return fmt.Errorf("closing swap of gateway %s: %w", ns, err)
	}
	return nil
}

// Memory reads what the gateway's cgroup holds resident and swapped.
func (r *Runtime) Memory(ctx context.Context, ns string) (runtime.Memory, error) {
	pid, err := r.pid(ctx, ns, "reading memory of")
	if err != nil {
		return runtime.Memory{}, err
	}
	m, err := cgroupfs.ReadMemory(pid)
	if err != nil {
		return runtime.Memory{}, fmt.Errorf("reading memory of gateway %s: %w", ns, err)
	}
	return runtime.Memory(m), nil
}
