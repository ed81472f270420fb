package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Pause freezes the namespace's container. Pausing a paused container is not
// an error; pausing one that is not running is.
func (r *Runtime) Pause(ctx context.Context, ns string) error {
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return fmt.Errorf("pausing gateway %s: %w", ns, err)
	}
	if status(c) == container.StatePaused {
		return nil
	}
	err = r.do(ctx, func(ctx context.Context) error {
		_, err := r.api.ContainerPause(ctx, c.ID, client.ContainerPauseOptions{})
		return err
	})
	switch {
	case err == nil:
		r.log.Debug("gateway paused", "namespace", ns, "container_id", shortID(c.ID))
		return nil
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("pausing gateway %s: %w", ns, notFound(err))
	case cerrdefs.IsConflict(err):
		// Paused by a concurrent call, or not running: look again.
		if now, ierr := r.inspectContainer(ctx, c.ID); ierr == nil && status(now) == container.StatePaused {
			return nil
		}
	}
	return fmt.Errorf("pausing gateway %s: %w", ns, err)
}
