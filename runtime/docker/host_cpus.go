package docker

import (
	"context"

	"github.com/moby/moby/client"
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
