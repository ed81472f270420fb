package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Start starts the namespace's container. A running container is left
// alone (the engine answers 304); a paused one is unpaused, since the caller
// wants it running.
func (r *Runtime) Start(ctx context.Context, ns string) error {
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return fmt.Errorf("starting gateway %s: %w", ns, err)
	}
	switch status(c) {
	case container.StateRunning, container.StateRestarting:
		return nil
	case container.StatePaused:
		r.log.Debug("start of a paused gateway unpauses it", "namespace", ns)
		return r.Unpause(ctx, ns)
	}
	err = r.do(ctx, func(ctx context.Context) error {
		_, err := r.api.ContainerStart(ctx, c.ID, client.ContainerStartOptions{})
		return err
	})
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("starting gateway %s: %w", ns, notFound(err))
	}
	if err != nil {
		return fmt.Errorf("starting gateway %s: %w", ns, err)
	}
	r.log.Debug("gateway started", "namespace", ns, "container_id", shortID(c.ID))
	return nil
}
