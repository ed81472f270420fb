package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cenkalti/backoff/v4"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// Remove deletes the namespace's container and network, and its volumes when
// opts.Volumes is set. Missing objects are fine. Objects with our names but
// without this cluster's labels are never touched; they are reported in the
// error after everything of ours is gone.
func (r *Runtime) Remove(ctx context.Context, ns string, opts runtime.RemoveOptions) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	var foreign []error
	keep := func(err error) error {
		var no *NotOwnedError
		if errors.As(err, &no) {
			r.log.Warn("not removing an object clawd does not own", "namespace", ns, "kind", no.Kind, "name", no.Name, "id", shortID(no.ID), "cluster_label", no.Cluster)
			foreign = append(foreign, err)
			return nil
		}
		return err
	}

	name := r.containerName(ns)
	c, err := r.inspectContainer(ctx, name)
	switch {
	case err == nil:
		if err := r.removeContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("removing gateway %s: %w", ns, err)
		}
		r.log.Info("gateway container removed", "namespace", ns, "container", name, "container_id", shortID(c.ID))
	case errors.Is(err, runtime.ErrNotFound):
	default:
		if err := keep(err); err != nil {
			return fmt.Errorf("removing gateway %s: %w", ns, err)
		}
	}

	if err := r.removeNetworks(ctx, ns, keep); err != nil {
		return fmt.Errorf("removing gateway %s: %w", ns, err)
	}

	if opts.Volumes {
		for _, role := range []string{roleData, roleSkills} {
			if err := r.removeVolume(ctx, ns, r.volumeName(ns, role), keep); err != nil {
				return fmt.Errorf("removing gateway %s: %w", ns, err)
			}
		}
	}
	if len(foreign) > 0 {
		return fmt.Errorf("removing gateway %s: %w", ns, errors.Join(foreign...))
	}
	return nil
}

// removeContainer force-removes a container (by id, after the ownership
// check). A removal already in progress is waited out.
func (r *Runtime) removeContainer(ctx context.Context, id string) error {
	err := r.do(ctx, func(ctx context.Context) error {
		// v=1 only removes anonymous volumes the image declared; named
		// volumes (our data and skills) survive it.
		_, err := r.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		return err
	})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress"):
		return r.waitGone(ctx, id)
	}
	return fmt.Errorf("removing container %s: %w", shortID(id), err)
}

// waitGone polls until a container being removed by someone else is gone.
func (r *Runtime) waitGone(ctx context.Context, id string) error {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(retryInitial),
		backoff.WithMaxInterval(retryMax),
		backoff.WithMaxElapsedTime(r.callTimeout),
	)
	return backoff.Retry(func() error {
		err := r.do(ctx, func(ctx context.Context) error {
			_, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
			return err
		})
		switch {
		case cerrdefs.IsNotFound(err):
			return nil
		case err != nil:
			return backoff.Permanent(fmt.Errorf("waiting for removal of container %s: %w", shortID(id), err))
		}
		return fmt.Errorf("container %s is still being removed", shortID(id))
	}, backoff.WithContext(b, ctx))
}

// removeNetworks removes every network of ours with the namespace's network
// name (duplicates from old engines included).
func (r *Runtime) removeNetworks(ctx context.Context, ns string, keep func(error) error) error {
	name := r.networkName(ns)
	mine, foreign, err := r.networksNamed(ctx, name)
	if err != nil {
		return err
	}
	for _, n := range foreign {
		if err := keep(r.notOwned("network", n.Name, n.ID, n.Labels)); err != nil {
			return err
		}
	}
	for _, n := range mine {
		err := r.do(ctx, func(ctx context.Context) error {
			_, err := r.api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			return err
		})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("removing network %s (%s): %w", name, shortID(n.ID), err)
		}
		r.log.Info("network removed", "namespace", ns, "network", name, "network_id", shortID(n.ID))
	}
	return nil
}

func (r *Runtime) removeVolume(ctx context.Context, ns, name string, keep func(error) error) error {
	_, err := r.inspectVolume(ctx, name)
	switch {
	case cerrdefs.IsNotFound(err):
		return nil
	case err != nil:
		return keep(err)
	}
	err = r.do(ctx, func(ctx context.Context) error {
		_, err := r.api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
		return err
	})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing volume %s: %w", name, err)
	}
	r.log.Info("volume removed", "namespace", ns, "volume", name)
	return nil
}
