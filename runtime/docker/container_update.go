package docker

import (
	"context"
	"fmt"

	"github.com/clawd-dev/clawd/runtime"
)

// UpdateCaps applies spec's CPU, memory and pids caps to the namespace's
// container while it runs (applyCaps: a cap above the host is clamped, a
// memory cap below the gateway's use is refused).
func (r *Runtime) UpdateCaps(ctx context.Context, spec runtime.GatewaySpec) error {
	ns := spec.Namespace
	if err := checkNamespace(ns); err != nil {
		return err
	}
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return fmt.Errorf("updating the caps of gateway %s: %w", ns, err)
	}
	if err := r.applyCaps(ctx, r.log.With("namespace", ns), spec, c); err != nil {
		return fmt.Errorf("updating the caps of gateway %s: %w", ns, err)
	}
	return nil
}
