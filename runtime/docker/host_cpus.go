package docker

import (
	"context"

	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// HostCPUs is how many CPUs the engine's host has: a gateway's CPU cap
// above it is clamped to it (an update refuses more; a create accepts it,
// and the kernel gives no more anyway).
func (r *Runtime) HostCPUs(ctx context.Context) (int, error) {
	if n := r.hostCPUs.Load(); n > 0 {
		return int(n), nil
	}
	var res client.SystemInfoResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.Info(ctx, client.InfoOptions{})
		return err
	})
	if err != nil {
		return 0, err
	}
	r.hostCPUs.Store(int64(res.Info.NCPU))
	return res.Info.NCPU, nil
}

// clampCPUs lowers a CPU cap above the engine's CPUs to them: Docker 20.10
// refuses such a create ("Range of CPUs is from 0.01 to 2.00"), which a
// namespace re-created with the guide's `cpu: 4` quota on a 2-core host
// (moved onto a capped volume) would otherwise never get past. An engine
// that cannot say how many CPUs it has gets the spec unchanged.
func (r *Runtime) clampCPUs(ctx context.Context, spec runtime.GatewaySpec) runtime.GatewaySpec {
	if spec.NanoCPUs <= 0 {
		return spec
	}
	n, err := r.HostCPUs(ctx)
	if host := int64(n) * 1e9; err == nil && host > 0 && spec.NanoCPUs > host {
		r.log.Info("CPU cap above the host's CPUs; clamped to them", "namespace", spec.Namespace, "asked_nano_cpus", spec.NanoCPUs, "host_cpus", n)
		spec.NanoCPUs = host
	}
	return spec
}
