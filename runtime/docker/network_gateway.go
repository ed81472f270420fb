package docker

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// withNetworkGateway fills inst.NetworkGateway when the container's
// endpoint does not carry it: a container that has not run yet (the
// supervisor writes the gateway's config before its first start) or has
// stopped. The network's own IPAM config says it; a lookup failure leaves
// the field empty for the caller to retry.
func (r *Runtime) withNetworkGateway(ctx context.Context, c container.InspectResponse, inst runtime.Instance) runtime.Instance {
	if inst.NetworkGateway != "" || inst.Namespace == "" {
		return inst
	}
	id := ""
	if c.NetworkSettings != nil {
		if ep := c.NetworkSettings.Networks[r.networkName(inst.Namespace)]; ep != nil {
			id = ep.NetworkID
		}
	}
	if id == "" && inst.SpareID == "" && c.HostConfig != nil {
		id = string(c.HostConfig.NetworkMode) // the namespace network's id, set at create
	}
	if id == "" {
		return inst
	}
	gw, err := r.networkGateway(ctx, id)
	if err != nil {
		r.log.Debug("looking up the gateway network's address failed", "namespace", inst.Namespace, "network_id", shortID(id), "error", err)
		return inst
	}
	inst.NetworkGateway = gw
	return inst
}

// networkGateway returns the IPv4 gateway of network id, the host's
// address on that bridge. Cached: a network keeps its subnet for life, and
// a re-created one has a new id.
func (r *Runtime) networkGateway(ctx context.Context, id string) (string, error) {
	if v, ok := r.netGateways.Load(id); ok {
		return v.(string), nil
	}
	var res client.NetworkInspectResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("inspecting network %s: %w", shortID(id), err)
	}
	ipam := res.Network.IPAM
	for _, cfg := range ipam.Config {
		gw := cfg.Gateway
		if !gw.IsValid() && cfg.Subnet.Addr().Is4() && (ipam.Driver == "" || ipam.Driver == "default") {
			// A subnet given without a gateway (how clawd carves its pool)
			// gets the default driver's choice, its first address, which
			// inspect does not report.
			gw = cfg.Subnet.Masked().Addr().Next()
		}
		if gw.Is4() {
			r.netGateways.Store(id, gw.String())
			return gw.String(), nil
		}
	}
	return "", fmt.Errorf("network %s has no IPv4 gateway", shortID(id))
}

// endpointGateway is the gateway address of the container's endpoint ep,
// "" when it has none (not running).
func endpointGateway(ns *container.NetworkSettings, name string) string {
	if ns == nil {
		return ""
	}
	if ep := ns.Networks[name]; ep != nil && ep.Gateway.Is4() {
		return ep.Gateway.String()
	}
	return ""
}
