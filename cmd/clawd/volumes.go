package main

import (
	"context"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/metering"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/volumes"
)

// boxKeys wraps volume keys with clawd's secrets box (AES-256-GCM under
// the secrets key), like every other secret clawd stores.
type boxKeys struct{ box *secrets.Box }

var _ volumes.KeyWrapper = boxKeys{}

func (b boxKeys) WrapKey(_ context.Context, plain []byte, context string) (string, error) {
	return b.box.Seal(plain, context)
}

func (b boxKeys) UnwrapKey(_ context.Context, wrapped, context string) ([]byte, error) {
	return b.box.Open(wrapped, context)
}

var _ volumes.KeyStore = (*store.Store)(nil)

// gatewayUser owns a new volume's root: the OpenClaw image runs as 1000.
const gatewayUser = 1000

// newVolumes makes the capped and encrypted volumes' manager: images and
// mount points under <data dir>/volumes, keys wrapped by the secrets box
// and stored in etcd.
func newVolumes(dataDir string, st *store.Store, box *secrets.Box, log hclog.Logger) *volumes.Manager {
	return volumes.New(volumes.Config{
		Dir: filepath.Join(dataDir, "volumes"), UID: gatewayUser, GID: gatewayUser,
		Keys: boxKeys{box}, KeyStore: st, Logger: log.Named("volumes"),
	})
}

// volumeDisks measures a namespace's storage for metering: its Docker
// volumes (the runtime) plus its capped or encrypted volumes.
type volumeDisks struct {
	docker metering.Disks
	vols   *volumes.Manager
}

func (d volumeDisks) DiskUsage(ctx context.Context, ns, dataVolume, skillsVolume string) (int64, error) {
	n, err := d.docker.DiskUsage(ctx, ns, dataVolume, skillsVolume)
	if err != nil {
		return 0, err
	}
	v, err := d.vols.DiskUsage(ctx, ns)
	return n + v, err
}

var _ volumes.KeyReplacer = (*store.Store)(nil)
