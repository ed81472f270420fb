package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/clawd-dev/clawd/runtime"
)

// listConcurrency bounds the inspects List runs at once.
const listConcurrency = 8

// List returns every namespace gateway container of this cluster in every
// state, adopted warm-pool gateways included, sorted by namespace. Each is
// inspected, so the instances are as complete as Inspect's; containers
// removed meanwhile are left out.
func (r *Runtime) List(ctx context.Context) ([]runtime.Instance, error) {
	list, err := r.listInstances(ctx, func(inst runtime.Instance) bool { return inst.Namespace != "" })
	if err != nil {
		return nil, fmt.Errorf("listing gateway containers: %w", err)
	}
	slices.SortFunc(list, func(a, b runtime.Instance) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.ContainerID, b.ContainerID))
	})
	return list, nil
}

// listInstances inspects this cluster's gateway containers (namespaces'
// and warm-pool ones) and returns those keep accepts.
func (r *Runtime) listInstances(ctx context.Context, keep func(runtime.Instance) bool) ([]runtime.Instance, error) {
	var res client.ContainerListResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		// Labels of one key are ANDed by the engine, so the two roles are
		// picked below.
		res, err = r.api.ContainerList(ctx, client.ContainerListOptions{
			All:     true,
			Filters: client.Filters{}.Add("label", r.clusterFilter()...),
		})
		return err
	})
	if err != nil {
		return nil, err
	}

	out := make([]runtime.Instance, len(res.Items))
	found := make([]bool, len(res.Items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listConcurrency)
	for i, c := range res.Items {
		if role := c.Labels[runtime.LabelRole]; role != roleGateway && role != roleSpare || !r.mine(c.Labels) {
			continue
		}
		g.Go(func() error {
			inst, err := r.inspectInstance(gctx, c.ID)
			if errors.Is(err, runtime.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			out[i], found[i] = inst, keep(inst)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	list := make([]runtime.Instance, 0, len(out))
	for i, inst := range out {
		if found[i] {
			list = append(list, inst)
		}
	}
	return list, nil
}
