package docker

import (
	"context"
	"fmt"
	"net"
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
	// Docker 20.10 leaves the default bridge's gateway out of IPAM: it is
	// the address of the bridge interface itself (docker0 unless the
	// engine was told otherwise), which is on this host.
	name := res.Network.Options["com.docker.network.bridge.name"]
	if name == "" {
		name = "docker0"
	}
	if a, ok := interfaceIPv4(name); ok {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("Docker's default bridge network has no IPv4 gateway address (no IPAM gateway, no IPv4 address on %s)", name)
}

func interfaceIPv4(name string) (netip.Addr, bool) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, false
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}
