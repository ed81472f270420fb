package docker

import (
	"context"
	"fmt"

	"github.com/clawd-dev/clawd/runtime"
)

var _ runtime.VolumePather = (*Runtime)(nil)

// VolumePath returns where the files of one of this cluster's volumes are
// on this host (a local-driver volume's mountpoint).
func (r *Runtime) VolumePath(ctx context.Context, name string) (string, error) {
	v, err := r.inspectVolume(ctx, name)
	if err != nil {
		return "", err
	}
	if v.Driver != "local" || v.Mountpoint == "" {
		return "", fmt.Errorf("volume %s: driver %q has no mountpoint on this host", name, v.Driver)
	}
	return v.Mountpoint, nil
}
