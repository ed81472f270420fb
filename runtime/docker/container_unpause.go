package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Unpause thaws the namespace's container. A container that is not paused
// (running, stopped) is already what the caller wants: not an error.
func (r *Runtime) Unpause(ctx context.Context, ns string) error {
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return fmt.Errorf("unpausing gateway %s: %w", ns, err)
	}
	if err := r.unpause(ctx, r.log.With("namespace", ns), c); err != nil {
		return fmt.Errorf("unpausing gateway %s: %w", ns, err)
	}
	return nil
}

// unpause thaws a container the caller resolved.
func (r *Runtime) unpause(ctx context.Context, log hclog.Logger, c container.InspectResponse) error {
	if status(c) != container.StatePaused {
		return nil
	}
	err := r.do(ctx, func(ctx context.Context) error {
		_, err := r.api.ContainerUnpause(ctx, c.ID, client.ContainerUnpauseOptions{})
		return err
	})
	switch {
	case err == nil:
		log.Debug("gateway unpaused", "container_id", shortID(c.ID))
		return nil
	case cerrdefs.IsNotFound(err):
		return notFound(err)
	case cerrdefs.IsConflict(err):
		// Unpaused (or stopped) by a concurrent call.
		if now, ierr := r.inspectContainer(ctx, c.ID); ierr == nil && status(now) != container.StatePaused {
			return nil
		}
	}
	return err
}
