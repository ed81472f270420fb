package docker

import (
	"cmp"
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/clawd-dev/clawd/runtime"
)

var _ runtime.VolumePather = (*Runtime)(nil)

// NamespaceVolumes returns where the files of the namespace's data and
// skills volumes are on this host (a local-driver volume's mountpoint):
// the volumes named, else the namespace's own. One that does not exist is
// the zero VolumeFiles; one of another driver is an error.
func (r *Runtime) NamespaceVolumes(ctx context.Context, ns, dataVolume, skillsVolume string) (data, skills runtime.VolumeFiles, err error) {
	out := [2]runtime.VolumeFiles{}
	for i, name := range []string{cmp.Or(dataVolume, r.volumeName(ns, roleData)), cmp.Or(skillsVolume, r.volumeName(ns, roleSkills))} {
		v, err := r.inspectVolume(ctx, name)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return data, skills, err
		}
		if v.Driver != "local" || v.Mountpoint == "" {
			return data, skills, fmt.Errorf("volume %s: driver %q has no mountpoint on this host", name, v.Driver)
		}
		out[i] = runtime.VolumeFiles{Name: name, Path: v.Mountpoint}
	}
	return out[0], out[1], nil
}
