package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// stateFileMode keeps files clawd writes (config, tokens) private to the
// gateway user.
const stateFileMode = 0o600

// WriteState writes data to the file at the absolute path p, which must lie
// in the namespace gateway's state dir, owned by the gateway user (uid and
// gid 1000) with mode 0600. It goes through the engine's archive endpoint,
// so it works with remote engines and any volume driver; the file's
// directory must exist. The file is replaced in place, not atomically.
func (r *Runtime) WriteState(ctx context.Context, ns, p string, data []byte) error {
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return fmt.Errorf("writing %s into gateway %s: %w", p, ns, err)
	}
	if err := checkStatePath(c, p); err != nil {
		return fmt.Errorf("writing %s into gateway %s: %w", p, ns, err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     path.Base(p),
		Size:     int64(len(data)),
		Mode:     stateFileMode,
		Uid:      gatewayUID,
		Gid:      gatewayGID,
		ModTime:  time.Now(),
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing %s into gateway %s: %w", p, ns, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("writing %s into gateway %s: %w", p, ns, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing %s into gateway %s: %w", p, ns, err)
	}

	err = r.do(ctx, func(ctx context.Context) error {
		// A retry needs the whole archive again.
		_, err := r.api.CopyToContainer(ctx, c.ID, client.CopyToContainerOptions{
			DestinationPath: path.Dir(p),
			Content:         bytes.NewReader(buf.Bytes()),
		})
		return err
	})
	if cerrdefs.IsNotFound(err) {
		// The container is gone, or the directory does not exist.
		return fmt.Errorf("writing %s into gateway %s: %w", p, ns, notFound(err))
	}
	if err != nil {
		return fmt.Errorf("writing %s into gateway %s: %w", p, ns, err)
	}
	r.log.Debug("state file written", "namespace", ns, "path", p, "bytes", len(data))
	return nil
}

// checkStatePath accepts only clean absolute paths below the container's
// state dir, so clawd never writes into the image's file system.
func checkStatePath(c container.InspectResponse, p string) error {
	stateDir := stateDirOf(c)
	if stateDir == "" || stateDir == "/" {
		return fmt.Errorf("the container has no state dir: %w", cerrdefs.ErrFailedPrecondition)
	}
	if !path.IsAbs(p) || path.Clean(p) != p || !strings.HasPrefix(p, stateDir+"/") {
		return fmt.Errorf("path %q is not a clean absolute path below the state dir %s: %w", p, stateDir, cerrdefs.ErrInvalidArgument)
	}
	return nil
}
