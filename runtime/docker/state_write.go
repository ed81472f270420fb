package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
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
// directory must exist. The file is replaced, not atomically (see
// stateArchive).
func (r *Runtime) WriteState(ctx context.Context, ns, p string, data []byte) error {
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return fmt.Errorf("writing %s into gateway %s: %w", p, ns, err)
	}
	if err := checkStatePath(c, p); err != nil {
		return fmt.Errorf("writing %s into gateway %s: %w", p, ns, err)
	}

	if ok, err := writeStateLocal(c, p, data); ok {
		if err != nil {
			return fmt.Errorf("writing %s into gateway %s: %w", p, ns, err)
		}
		r.log.Debug("state file written", "namespace", ns, "path", p, "bytes", len(data), "via", "host")
		return nil
	}

	archive, err := stateArchive(path.Base(p), data)
	if err != nil {
		return fmt.Errorf("writing %s into gateway %s: %w", p, ns, err)
	}

	err = r.do(ctx, func(ctx context.Context) error {
		// A retry needs the whole archive again.
		_, err := r.api.CopyToContainer(ctx, c.ID, client.CopyToContainerOptions{
			DestinationPath: path.Dir(p),
			Content:         bytes.NewReader(archive),
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

// writeStateLocal writes the file straight into the volume's directory on
// this host when the engine is local: a rename, atomic and about a
// millisecond, where the archive endpoint takes a few hundred under load.
// It reports false when the volume is not reachable that way. The volume
// belongs to a tenant, who may have planted symlinks: the temporary file is
// created with O_EXCL|O_NOFOLLOW and renamed over the final name, which
// replaces a symlink rather than following it; only files directly in the
// state dir take this path.
func writeStateLocal(c container.InspectResponse, p string, data []byte) (bool, error) {
	stateDir := stateDirOf(c)
	if path.Dir(p) != stateDir {
		return false, nil
	}
	var src string
	for _, m := range c.Mounts {
		if m.Destination == stateDir && (m.Type == "volume" || m.Type == "bind" && c.Config != nil && m.Source == c.Config.Labels[LabelDataBind]) {
			src = m.Source
		}
	}
	if src == "" {
		return false, nil
	}
	if fi, err := os.Lstat(src); err != nil || !fi.IsDir() {
		return false, nil
	}
	tmp := filepath.Join(src, fmt.Sprintf(".clawd-%d-%d.tmp", os.Getpid(), time.Now().UnixNano()))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, stateFileMode)
	if err != nil {
		return true, err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chown(gatewayUID, gatewayGID)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(src, path.Base(p)))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return true, err
}

// stateArchive is the tar WriteState extracts: the data as a hidden sibling
// ".clawd-<name>", then name as a hard link to it. The engine removes the
// old file before extracting each entry, and a file created right after a
// removal usually gets the freed inode number back; file watchers that
// tell a replaced file from a modified one by its inode number (chokidar,
// which OpenClaw uses to hot-reload openclaw.json) then keep watching the
// dead inode and miss this change and every later one. Made while the old
// file still exists, the sibling always has a new inode. It stays behind
// as a second name of the file, harmless, and is replaced by the next write.
func stateArchive(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	staged := ".clawd-" + name
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     staged,
		Size:     int64(len(data)),
		Mode:     stateFileMode,
		Uid:      gatewayUID,
		Gid:      gatewayGID,
		ModTime:  now,
	}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeLink,
		Name:     name,
		Linkname: staged,
		Mode:     stateFileMode,
		Uid:      gatewayUID,
		Gid:      gatewayGID,
		ModTime:  now,
	}); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
