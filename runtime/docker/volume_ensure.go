package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
)

// gatewayUID owns the state and skills volumes: the OpenClaw image runs as
// the unprivileged user 1000 (node).
const gatewayUID, gatewayGID = 1000, 1000

// ensureVolume returns the gateway's volume for role (roleData, roleSkills),
// creating it when missing.
func (r *Runtime) ensureVolume(ctx context.Context, g gateway, role string) (volume.Volume, error) {
	name := g.data
	if role == roleSkills {
		name = g.skills
	}
	return r.ensureNamedVolume(ctx, g, role, name)
}

// ensureNamedVolume returns volume name, creating it when missing: a bind
// of the shared directory's NAME when volumes are shared (see volume_shared.go).
func (r *Runtime) ensureNamedVolume(ctx context.Context, g gateway, role, name string) (volume.Volume, error) {
	v, err := r.inspectVolume(ctx, name)
	if err == nil {
		return v, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return volume.Volume{}, err
	}
	opts, err := r.sharedOptions(name)
	if err != nil {
		return volume.Volume{}, err
	}
	var res client.VolumeCreateResult
	err = r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.VolumeCreate(ctx, client.VolumeCreateOptions{
			Name:       name,
			Driver:     "local",
			DriverOpts: opts,
			Labels:     r.gatewayLabels(g, role),
		})
		return err
	})
	if err != nil {
		return volume.Volume{}, fmt.Errorf("creating volume %s: %w", name, err)
	}
	// Creating an existing volume succeeds and returns it unchanged, so a
	// racing create by someone else shows up here.
	if !r.owned(res.Volume.Labels) {
		return volume.Volume{}, r.notOwned("volume", name, name, res.Volume.Labels)
	}
	r.logger(g).Debug("volume created", "volume", name)
	return res.Volume, nil
}

// inspectVolume returns the volume if it is ours; a NotOwnedError if it
// exists without our labels; a not-found error if it does not exist.
func (r *Runtime) inspectVolume(ctx context.Context, name string) (volume.Volume, error) {
	var res client.VolumeInspectResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		return err
	})
	if err != nil {
		return volume.Volume{}, fmt.Errorf("inspecting volume %s: %w", name, err)
	}
	if !r.owned(res.Volume.Labels) {
		return volume.Volume{}, r.notOwned("volume", name, name, res.Volume.Labels)
	}
	return res.Volume, nil
}

// chownVolume hands a root-owned volume to the gateway user. Docker copies
// the ownership of the image's directory into a fresh volume when the
// container is created; images that lack the directory (or have it owned by
// root) leave a root-owned volume the gateway cannot write. The fix-up needs
// the volume's mountpoint on this host, i.e. clawd running as root next to a
// local-driver engine; elsewhere it is skipped and the image must own the dirs.
func (r *Runtime) chownVolume(log hclog.Logger, v volume.Volume) {
	if v.Driver != "local" || v.Mountpoint == "" {
		return
	}
	fi, err := os.Stat(v.Mountpoint)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			log.Debug("cannot stat volume mountpoint; leaving ownership to the image", "volume", v.Name, "error", err)
		}
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid != 0 {
		return
	}
	if err := os.Chown(v.Mountpoint, gatewayUID, gatewayGID); err != nil {
		log.Warn("cannot hand volume to the gateway user", "volume", v.Name, "uid", gatewayUID, "error", err)
		return
	}
	log.Debug("volume handed to the gateway user", "volume", v.Name, "uid", gatewayUID)
}
