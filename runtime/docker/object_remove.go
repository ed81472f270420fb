package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// RemoveObject removes one object the leak reaper found, after checking
// again, by its labels, that this cluster owns it.
func (r *Runtime) RemoveObject(ctx context.Context, o runtime.Object) error {
	switch o.Kind {
	case "container":
		var res client.ContainerInspectResult
		err := r.do(ctx, func(ctx context.Context) error {
			var err error
			res, err = r.api.ContainerInspect(ctx, o.ID, client.ContainerInspectOptions{})
			return err
		})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("inspecting container %s: %w", o.Name, err)
		}
		if res.Container.Config == nil || !r.owned(res.Container.Config.Labels) {
			return r.notOwned("container", o.Name, o.ID, nil)
		}
		return r.removeContainer(ctx, o.ID)
	case "network":
		var res client.NetworkInspectResult
		err := r.do(ctx, func(ctx context.Context) error {
			var err error
			res, err = r.api.NetworkInspect(ctx, o.ID, client.NetworkInspectOptions{})
			return err
		})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("inspecting network %s: %w", o.Name, err)
		}
		if !r.owned(res.Network.Labels) {
			return r.notOwned("network", o.Name, o.ID, res.Network.Labels)
		}
		err = r.do(ctx, func(ctx context.Context) error {
			_, err := r.api.NetworkRemove(ctx, o.ID, client.NetworkRemoveOptions{})
			return err
		})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("removing network %s: %w", o.Name, err)
		}
		return nil
	case "volume":
		v, err := r.inspectVolume(ctx, o.Name)
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if !r.owned(v.Labels) {
			return r.notOwned("volume", o.Name, o.Name, v.Labels)
		}
		return r.removeVolume(ctx, r.log.With("namespace", o.Namespace), o.Name, func(err error) error { return err })
	}
	return fmt.Errorf("removing %s %s: unknown kind", o.Kind, o.Name)
}
