package docker

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/moby/moby/client"
)

// HostAddress is the host's IPv4 address on Docker's default bridge
// (docker0): an address of the host itself, so every container reaches it
// whatever network it is on (the engine's "host-gateway"), while nothing
// off the host can. clawd's model gateway listens there.
func (r *Runtime) HostAddress(ctx context.Context) (netip.Addr, error) {
	var res client.NetworkInspectResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
		return err
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("inspecting Docker's default bridge network: %w", err)
	}
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.Is4() {
			return c.Gateway, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("Docker's default bridge network has no IPv4 gateway address")
}
