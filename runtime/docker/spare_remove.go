package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// RemoveSpare removes warm-pool member id: its container, network and
// volumes. Once a namespace has claimed the spare (renamed it) nothing is
// removed: the network goes with the adoption, and the volumes are the
// namespace's for life. Since a spare's volumes outlive an adopted
// container that is evicted, the volumes go only when the container was
// still found under its spare name, which proves no one claimed them.
func (r *Runtime) RemoveSpare(ctx context.Context, id string) error {
	if err := checkSpareID(id); err != nil {
		return err
	}
	g := r.spareGateway(id)
	log := r.logger(g)
	strict := func(err error) error { return err }

	c, err := r.inspectContainer(ctx, g.container)
	found := err == nil
	switch {
	case found:
		// By name, not id: should an adoption rename it meanwhile, the
		// removal misses instead of taking the namespace's gateway.
		if err := r.removeContainer(ctx, g.container); err != nil {
			return fmt.Errorf("removing spare %s: %w", id, err)
		}
		log.Info("spare container removed", "container", g.container, "container_id", shortID(c.ID))
	case !errors.Is(err, runtime.ErrNotFound):
		return fmt.Errorf("removing spare %s: %w", id, err)
	}

	claimed, err := r.claimedSpare(ctx, id)
	if err != nil {
		return fmt.Errorf("removing spare %s: %w", id, err)
	}
	if claimed != "" {
		log.Info("spare was adopted; keeping its volumes", "container", claimed)
		return nil
	}
	if err := r.removeNetworks(ctx, log, g.network, strict); err != nil {
		return fmt.Errorf("removing spare %s: %w", id, err)
	}
	if !found {
		return nil
	}
	for _, v := range []string{g.data, g.skills} {
		if err := r.removeVolume(ctx, log, v, strict); err != nil {
			return fmt.Errorf("removing spare %s: %w", id, err)
		}
	}
	return nil
}

// claimedSpare returns the name of the container that carries spare id's
// label under a namespace's name, "" when there is none.
func (r *Runtime) claimedSpare(ctx context.Context, id string) (string, error) {
	var res client.ContainerListResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.ContainerList(ctx, client.ContainerListOptions{
			All:     true,
			Filters: client.Filters{}.Add("label", append(r.clusterFilter(), LabelSpare+"="+id)...),
		})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("listing containers of spare %s: %w", id, err)
	}
	for _, c := range res.Items {
		for _, n := range c.Names {
			if r.namespaceOf(n) != "" {
				return strings.TrimPrefix(n, "/"), nil
			}
		}
	}
	return "", nil
}
