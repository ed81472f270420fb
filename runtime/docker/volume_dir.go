package docker

import (
	"cmp"
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
)

// SkillsVolumeDir is where namespace ns's skills volume (the one named,
// else its own) holds its files on this host, to read what is installed
// there; "" when the volume does not exist yet. A volume this host cannot
// see into (another driver) is an error.
func (r *Runtime) SkillsVolumeDir(ctx context.Context, ns, skillsVolume string) (string, error) {
	name := cmp.Or(skillsVolume, r.volumeName(ns, roleSkills))
	v, err := r.inspectVolume(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if v.Driver != "local" || v.Mountpoint == "" {
		return "", fmt.Errorf("volume %s: driver %q has no mountpoint on this host to read", name, v.Driver)
	}
	return v.Mountpoint, nil
}
