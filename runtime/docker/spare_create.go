package docker

import (
	"context"
	"fmt"

	"github.com/clawd-dev/clawd/runtime"
)

// CreateSpare creates and starts warm-pool member id from spec: its own
// network, fresh volumes and a container hardened like a namespace's, all
// named clawd-<cluster>.spare-<id>… and labelled role=spare with the id and
// no namespace. The spec's namespace and volumes are ignored: a spare
// belongs to no one and never mounts anyone's data. Idempotent: an existing
// spare with that id is adopted (and started).
func (r *Runtime) CreateSpare(ctx context.Context, id string, spec runtime.GatewaySpec) (runtime.Instance, error) {
	if err := checkSpareID(id); err != nil {
		return runtime.Instance{}, err
	}
	g := r.spareGateway(id)
	if err := checkGatewaySpec(spec, g.container); err != nil {
		return runtime.Instance{}, err
	}
	spec.Namespace, spec.DataVolume, spec.SkillsVolume, spec.HostSkills = "", "", "", ""

	cid, err := r.create(ctx, spec, g)
	if err != nil {
		return runtime.Instance{}, fmt.Errorf("creating spare %s: %w", id, err)
	}
	c, err := r.inspectContainer(ctx, cid)
	if err != nil {
		return runtime.Instance{}, fmt.Errorf("creating spare %s: %w", id, err)
	}
	if err := r.writeStateFiles(ctx, c, spec.StateFiles); err != nil {
		return runtime.Instance{}, fmt.Errorf("creating spare %s: %w", id, err)
	}
	if err := r.start(ctx, r.logger(g), c); err != nil {
		return runtime.Instance{}, fmt.Errorf("starting spare %s: %w", id, err)
	}
	inst, err := r.inspectInstance(ctx, cid)
	if err != nil {
		return runtime.Instance{}, fmt.Errorf("creating spare %s: %w", id, err)
	}
	return inst, nil
}
