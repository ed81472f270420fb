package docker

import (
	"cmp"
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/clawd-dev/clawd/runtime"
)

// SkillsVolumeDir is where namespace ns's skills volume (the one named,
// else its own) holds its files on this host, to read what is installed
// there; "" when the volume does not exist yet. A volume this host cannot
// see into (another driver) is an error.
func (r *Runtime) SkillsVolumeDir(ctx context.Context, ns, skillsVolume string) (string, error) {
	dir, err := r.volumeDir(ctx, cmp.Or(skillsVolume, r.volumeName(ns, roleSkills)))
	if cerrdefs.IsNotFound(err) {
		return "", nil
	}
	return dir, err
}

// DataDir returns the directory on this host that holds the namespace's
// data volume (the gateway's state dir): the volume named (an adopted
// spare's, from the namespace's spec), else the namespace's own. It works
// whatever the container's state, without starting it. A volume that does
// not exist is errors.Is(err, runtime.ErrNotFound); one this host cannot
// see into (another driver) is an error. Callers must treat the tree as
// tenant-controlled: it may hold symbolic links to anywhere.
func (r *Runtime) DataDir(ctx context.Context, ns, dataVolume string) (string, error) {
	name := cmp.Or(dataVolume, r.volumeName(ns, roleData))
	dir, err := r.volumeDir(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("volume %s: %w", name, runtime.ErrNotFound)
	}
	return dir, err
}

// volumeDir is where a local-driver volume's files are on this host.
func (r *Runtime) volumeDir(ctx context.Context, name string) (string, error) {
	v, err := r.inspectVolume(ctx, name)
	if err != nil {
		return "", err
	}
	if v.Driver != "local" || v.Mountpoint == "" {
		return "", fmt.Errorf("volume %s: driver %q has no directory on this host", name, v.Driver)
	}
	return v.Mountpoint, nil
}
