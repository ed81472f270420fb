package docker

import (
	"cmp"
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/clawd-dev/clawd/internal/diskusage"
)

// DiskUsage is the space a namespace's data and skills volumes take on this
// host, in bytes (allocated blocks, hard links counted once): the volumes
// named (a gateway adopted from the warm pool keeps its spare's, recorded in
// the namespace's spec), else the namespace's own. It walks the
// volumes' mountpoints without following symbolic links, so nothing a
// tenant plants there makes it read outside. A volume that does not exist
// counts 0; one this host cannot see into (another driver, clawd not root)
// is an error.
func (r *Runtime) DiskUsage(ctx context.Context, ns, dataVolume, skillsVolume string) (int64, error) {
	var total int64
	for _, name := range []string{cmp.Or(dataVolume, r.volumeName(ns, roleData)), cmp.Or(skillsVolume, r.volumeName(ns, roleSkills))} {
		v, err := r.inspectVolume(ctx, name)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if v.Driver != "local" || v.Mountpoint == "" {
			return 0, fmt.Errorf("volume %s: driver %q has no mountpoint on this host to measure", name, v.Driver)
		}
		n, err := diskusage.Tree(ctx, v.Mountpoint)
		if err != nil {
			return 0, fmt.Errorf("measuring volume %s: %w", name, err)
		}
		total += n
	}
	return total, nil
}
