package docker

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
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
	if err := r.start(ctx, r.log.With("namespace", ns), c); err != nil {
		return fmt.Errorf("starting gateway %s: %w", ns, err)
	}
	return nil
}

// start starts a container the caller resolved (a namespace's or a spare's).
func (r *Runtime) start(ctx context.Context, log hclog.Logger, c container.InspectResponse) error {
	switch status(c) {
	case container.StateRunning, container.StateRestarting:
		return nil
	case container.StatePaused:
		log.Debug("start of a paused gateway unpauses it")
		return r.unpause(ctx, log, c)
	}
	r.removeStaleLocks(ctx, log, c)
	err := r.do(ctx, func(ctx context.Context) error {
		_, err := r.api.ContainerStart(ctx, c.ID, client.ContainerStartOptions{})
		return err
	})
	if cerrdefs.IsNotFound(err) && networkMissing(err) {
		// The container can never start again: its network was removed
		// while it was stopped (`docker network prune`). Remove it so the
		// caller's next pass finds nothing and creates it afresh; the state
		// lives in the volumes.
		log.Warn("gateway network is gone; removing the stopped container for re-creation", "container_id", shortID(c.ID), "error", err)
		if rerr := r.removeContainer(ctx, c.ID); rerr != nil {
			return fmt.Errorf("%w (and removing it: %w)", err, rerr)
		}
		return fmt.Errorf("its network is gone, container removed for re-creation: %w", notFound(err))
	}
	if cerrdefs.IsNotFound(err) {
		return notFound(err)
	}
	if err != nil {
		return err
	}
	log.Debug("gateway started", "container_id", shortID(c.ID))
	return nil
}

// networkMissing tells a 404 about the container's network ("network x not
// found") from one about the container itself ("No such container").
func networkMissing(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "network") && strings.Contains(msg, "not found") && !strings.Contains(msg, "No such container")
}
