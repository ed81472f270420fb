package docker

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// ensureNetwork returns the id of the namespace's bridge network, creating
// it when missing. The network is not Internal: the gateway needs outbound
// internet to reach model providers; tenants are isolated from each other
// because Docker does not route between separate bridges.
//
// API ≤ 1.43 engines (Docker 20.10) only refuse a duplicate network name when
// the request sets CheckDuplicate, which this client no longer sends, and
// concurrent creates can race even with it. So the create is followed by a
// relist that keeps the oldest of our same-named networks and removes the
// extras that have no containers.
func (r *Runtime) ensureNetwork(ctx context.Context, ns string) (string, error) {
	return r.ensureGatewayNetwork(ctx, r.namespaceGateway(ns), netip.Prefix{})
}

// ensureGatewayNetwork is ensureNetwork for any gateway's network, a
// spare's included. A network it has to create gets subnet prefer when that
// is valid and free (see Adopt), else one from the pool.
func (r *Runtime) ensureGatewayNetwork(ctx context.Context, g gateway, prefer netip.Prefix) (string, error) {
	name := g.network
	log := r.logger(g)
	mine, err := r.ownNetworks(ctx, name)
	if err != nil {
		return "", err
	}
	if len(mine) == 1 {
		return mine[0].ID, nil
	}
	if len(mine) == 0 {
		id, err := r.createNetwork(ctx, name, r.gatewayLabels(g, roleNetwork), prefer)
		// Newer engines refuse the duplicate name of a concurrent create;
		// the relist below finds the winner.
		if err != nil && !cerrdefs.IsConflict(err) {
			return "", fmt.Errorf("creating network %s: %w", name, err)
		}
		if err == nil {
			log.Debug("network created", "network", name, "network_id", shortID(id))
		}
		if mine, err = r.ownNetworks(ctx, name); err != nil {
			return "", err
		}
		if len(mine) == 0 {
			return "", fmt.Errorf("creating network %s: created but not listed", name)
		}
	}
	r.dedupeNetworks(ctx, log, mine[1:])
	return mine[0].ID, nil
}

// ownNetworks lists this cluster's networks named exactly name, oldest
// first. A same-named network without our labels is an error: it is not ours
// to use or remove, and an operator should look at it.
func (r *Runtime) ownNetworks(ctx context.Context, name string) ([]network.Summary, error) {
	mine, foreign, err := r.networksNamed(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(foreign) > 0 {
		n := foreign[0]
		return nil, r.notOwned("network", n.Name, n.ID, n.Labels)
	}
	return mine, nil
}

// networksNamed lists the networks named exactly name, split into this
// cluster's (oldest first) and others.
func (r *Runtime) networksNamed(ctx context.Context, name string) (mine, foreign []network.Summary, err error) {
	var res client.NetworkListResult
	err = r.do(ctx, func(ctx context.Context) error {
		var err error
		// The name filter matches substrings; exact names are picked below.
		res, err = r.api.NetworkList(ctx, client.NetworkListOptions{
			Filters: client.Filters{}.Add("name", name),
		})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listing networks named %s: %w", name, err)
	}
	for _, n := range res.Items {
		switch {
		case n.Name != name:
		case r.owned(n.Labels):
			mine = append(mine, n)
		default:
			foreign = append(foreign, n)
		}
	}
	slices.SortFunc(mine, func(a, b network.Summary) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return mine, foreign, nil
}

// dedupeNetworks removes duplicate networks left by racing creates. One with
// containers attached is kept (and logged): removing it would cut them off.
func (r *Runtime) dedupeNetworks(ctx context.Context, log hclog.Logger, extras []network.Summary) {
	for _, n := range extras {
		var res client.NetworkInspectResult
		err := r.do(ctx, func(ctx context.Context) error {
			var err error
			res, err = r.api.NetworkInspect(ctx, n.ID, client.NetworkInspectOptions{})
			return err
		})
		if err != nil {
			if !cerrdefs.IsNotFound(err) {
				log.Warn("inspecting duplicate network failed", "network_id", shortID(n.ID), "error", err)
			}
			continue
		}
		if len(res.Network.Containers) > 0 {
			log.Warn("duplicate network has containers; keeping it", "network", n.Name, "network_id", shortID(n.ID), "containers", len(res.Network.Containers))
			continue
		}
		err = r.do(ctx, func(ctx context.Context) error {
			_, err := r.api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			return err
		})
		if err != nil && !cerrdefs.IsNotFound(err) {
			log.Warn("removing duplicate network failed", "network_id", shortID(n.ID), "error", err)
			continue
		}
		log.Info("removed duplicate network", "network", n.Name, "network_id", shortID(n.ID))
	}
}
