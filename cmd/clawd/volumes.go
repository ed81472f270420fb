package main

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/metering"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/volumes"
)

// volumeKeys wraps each namespace's volume key with the key source and
// algorithm its encryption.keySource and encryption.algorithm name (the
// daemon's own source when unset), read from the dynamic config when the
// key is wrapped; unwrapping follows what the stored value names.
func volumeKeys(box *secrets.Box, st *store.Store, log hclog.Logger) volumes.KeyWrapper {
	return box.WrapperFor(func(keyContext string) (string, string) {
		ns := strings.TrimPrefix(keyContext, "clawd/volume/")
		values, err := st.ListConfig(context.Background())
		if err != nil {
			log.Warn("reading encryption.keySource; the daemon's key source wraps the volume key", "namespace", ns, "error", err)
			return "", ""
		}
		source, _ := config.Effective(values, ns, "encryption.keySource")
		alg, _ := config.Effective(values, ns, "encryption.algorithm")
		return source, alg
	})
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
		Keys: volumeKeys(box, st, log), KeyStore: st, Logger: log.Named("volumes"),
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
