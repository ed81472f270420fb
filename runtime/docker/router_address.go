package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// RouterAddress is the host's address on the namespace's network: the
// bridge's gateway address, which connections from this host to the
// gateway (the router's) come from, and so the one address the gateway
// should trust as its proxy. It is known before the container first runs
// (a created container has no endpoint yet), from the network's IPAM.
//
// A gateway adopted from the warm pool gets the zero address and no error:
// it booted trusting the subnet pool (it did not know the network it would
// serve on), and OpenClaw closes every client connection when its trusted
// proxies change, so narrowing them at adoption would drop the tenant's
// first connections. It keeps the pool; OpenClaw still refuses its own
// addresses as a proxy.
func (r *Runtime) RouterAddress(ctx context.Context, ns string) (netip.Addr, error) {
	if err := checkNamespace(ns); err != nil {
		return netip.Addr{}, err
	}
	c, err := r.inspectContainer(ctx, r.containerName(ns))
	switch {
	case err == nil && c.Config.Labels[LabelSpare] != "":
		return netip.Addr{}, nil
	case err != nil && !errors.Is(err, runtime.ErrNotFound):
		return netip.Addr{}, fmt.Errorf("finding the router's address for %s: %w", ns, err)
	}
	name := r.networkName(ns)
	mine, err := r.ownNetworks(ctx, name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("finding the router's address on %s: %w", name, err)
	}
	if len(mine) == 0 {
		return netip.Addr{}, fmt.Errorf("finding the router's address: no network %s: %w", name, runtime.ErrNotFound)
	}
	var res client.NetworkInspectResult
	err = r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.NetworkInspect(ctx, mine[0].ID, client.NetworkInspectOptions{})
		return err
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("inspecting network %s: %w", name, err)
	}
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.Is4() {
			return c.Gateway, nil
		}
		// No gateway in IPAM: Docker gives the bridge the subnet's first
		// address.
		if c.Subnet.IsValid() && c.Subnet.Addr().Is4() {
			return c.Subnet.Masked().Addr().Next(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("network %s has no IPv4 gateway address", name)
}
