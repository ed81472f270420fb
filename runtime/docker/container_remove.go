package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cenkalti/backoff/v4"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// Remove deletes the namespace's container and network (and what is left of
// the network of the warm-pool gateway it adopted), and its volumes when
// opts.Volumes is set: those opts names, else those the container mounts,
// else the namespace's own. Missing objects are fine. Objects with our names
// but without this cluster's labels are never touched; they are reported in
// the error after everything of ours is gone.
func (r *Runtime) Remove(ctx context.Context, ns string, opts runtime.RemoveOptions) error {
	if err := checkNamespace(ns); err != nil {
		return err
	}
	log := r.log.With("namespace", ns)
	var foreign []error
	keep := func(err error) error {
		var no *NotOwnedError
		if errors.As(err, &no) {
			log.Warn("not removing an object clawd does not own", "kind", no.Kind, "name", no.Name, "id", shortID(no.ID), "cluster_label", no.Cluster)
			foreign = append(foreign, err)
			return nil
		}
		return err
	}

	g := r.namespaceGateway(ns)
	var spare, data, skills string
	c, err := r.inspectContainer(ctx, g.container)
	switch {
	case err == nil:
		spare = c.Config.Labels[LabelSpare]
		data, skills = mountedVolumes(c)
		if err := r.removeContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("removing gateway %s: %w", ns, err)
		}
		log.Info("gateway container removed", "container", g.container, "container_id", shortID(c.ID))
	case errors.Is(err, runtime.ErrNotFound):
	default:
		if err := keep(err); err != nil {
			return fmt.Errorf("removing gateway %s: %w", ns, err)
		}
	}

	nets := []string{g.network}
	if spare != "" {
		nets = append(nets, r.spareGateway(spare).network)
	}
	for _, n := range nets {
		if err := r.removeNetworks(ctx, log, n, keep); err != nil {
			return fmt.Errorf("removing gateway %s: %w", ns, err)
		}
	}

	if opts.Volumes {
		for _, v := range []string{cmp.Or(opts.DataVolume, data, g.data), cmp.Or(opts.SkillsVolume, skills, g.skills)} {
			if err := r.removeVolume(ctx, log, v, keep); err != nil {
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

// removeNetworks removes every network of ours called name (duplicates from
// old engines included).
func (r *Runtime) removeNetworks(ctx context.Context, log hclog.Logger, name string, keep func(error) error) error {
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
		log.Info("network removed", "network", name, "network_id", shortID(n.ID))
	}
	return nil
}

func (r *Runtime) removeVolume(ctx context.Context, log hclog.Logger, name string, keep func(error) error) error {
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
	log.Info("volume removed", "volume", name)
	return nil
}
