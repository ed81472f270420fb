package docker

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// writeStateFiles writes files (spec.StateFiles) into container c's state
// dir if c has never started, so its first start finds them. Through the
// archive endpoint, which works on a created container and any engine.
func (r *Runtime) writeStateFiles(ctx context.Context, c container.InspectResponse, files map[string][]byte) error {
	if len(files) == 0 || status(c) != container.StateCreated {
		return nil
	}
	stateDir := stateDirOf(c)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := path.Join(stateDir, name)
		if err := checkStatePath(c, p); err != nil {
			return fmt.Errorf("state file %q: %w", name, err)
		}
		if path.Dir(p) != stateDir {
			return fmt.Errorf("state file %q: must be a plain name in the state dir: %w", name, cerrdefs.ErrInvalidArgument)
		}
		archive, err := stateArchive(name, files[name])
		if err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		err = r.do(ctx, func(ctx context.Context) error {
			_, err := r.api.CopyToContainer(ctx, c.ID, client.CopyToContainerOptions{
				DestinationPath: stateDir,
				Content:         bytes.NewReader(archive),
			})
			return err
		})
		if err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}
