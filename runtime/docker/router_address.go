package docker

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

var _ runtime.SpareAddresser = (*Runtime)(nil)

// RouterAddress is the host's address on the namespace's network: the
// bridge's gateway address, which connections from this host to the
// gateway (the router's) come from, and so the one address the gateway
// should trust as its proxy. It is known before the container first runs
// (a created container has no endpoint yet), from the network's IPAM.
//
// An adopted spare is on a network made with the subnet its own had (see
// Adopt), so this is the address it has trusted since it booted.
func (r *Runtime) RouterAddress(ctx context.Context, ns string) (netip.Addr, error) {
	if err := checkNamespace(ns); err != nil {
		return netip.Addr{}, err
	}
	name := r.networkName(ns)
	mine, err := r.ownNetworks(ctx, name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("finding the router's address on %s: %w", name, err)
	}
	if len(mine) == 0 {
		return netip.Addr{}, fmt.Errorf("finding the router's address: no network %s: %w", name, runtime.ErrNotFound)
	}
	addr, _, err := r.bridgeAddress(ctx, mine[0].ID, name)
	return addr, err
}

// SpareRouterAddress makes spare id's network, as CreateSpare would, and
// returns the router's address on it: the spare's config trusts it from
// its first start, and the namespace that adopts the spare gets a network
// with the same subnet, so the same address.
func (r *Runtime) SpareRouterAddress(ctx context.Context, id string) (netip.Addr, error) {
	if err := checkSpareID(id); err != nil {
		return netip.Addr{}, err
	}
	g := r.spareGateway(id)
	netID, err := r.ensureGatewayNetwork(ctx, g, netip.Prefix{})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("making spare %s's network: %w", id, err)
	}
	addr, _, err := r.bridgeAddress(ctx, netID, g.network)
	return addr, err
}

// bridgeAddress returns the host's address on network netID (called name)
// and the network's IPv4 subnet.
func (r *Runtime) bridgeAddress(ctx context.Context, netID, name string) (netip.Addr, netip.Prefix, error) {
	var res client.NetworkInspectResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.NetworkInspect(ctx, netID, client.NetworkInspectOptions{})
		return err
	})
	if err != nil {
		return netip.Addr{}, netip.Prefix{}, fmt.Errorf("inspecting network %s: %w", name, err)
	}
	for _, c := range res.Network.IPAM.Config {
		if !c.Subnet.IsValid() || !c.Subnet.Addr().Is4() {
			continue
		}
		if c.Gateway.Is4() {
			return c.Gateway, c.Subnet.Masked(), nil
		}
		// No gateway in IPAM: Docker gives the bridge the subnet's first
		// address.
		return c.Subnet.Masked().Addr().Next(), c.Subnet.Masked(), nil
	}
	return netip.Addr{}, netip.Prefix{}, fmt.Errorf("network %s has no IPv4 gateway address", name)
}
