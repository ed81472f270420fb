package docker

import (
	"context"
	"fmt"
	"math"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Stop sends SIGTERM and kills the container after timeout. Stopping a
// stopped container is not an error.
func (r *Runtime) Stop(ctx context.Context, ns string, timeout time.Duration) error {
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return fmt.Errorf("stopping gateway %s: %w", ns, err)
	}
	switch status(c) {
	case container.StateCreated, container.StateExited, container.StateDead:
		return nil
	case container.StatePaused:
		// A frozen process cannot act on SIGTERM: it would sit out the whole
		// timeout and be killed. Thaw it so it can shut down cleanly.
		if err := r.Unpause(ctx, ns); err != nil {
			return fmt.Errorf("stopping gateway %s: %w", ns, err)
		}
	}
	timeout = max(timeout, 0)
	secs := int(math.Ceil(timeout.Seconds()))
	// The call itself waits for the grace period, so its deadline does too.
	err = r.doTimeout(ctx, r.callTimeout+timeout, func(ctx context.Context) error {
		_, err := r.api.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &secs})
		return err
	})
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stopping gateway %s: %w", ns, notFound(err))
	}
	if err != nil {
		return fmt.Errorf("stopping gateway %s: %w", ns, err)
	}
	r.log.Debug("gateway stopped", "namespace", ns, "container_id", shortID(c.ID), "timeout", timeout)
	return nil
}
