package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// maxLogTail caps what TailLogs reads: a gateway that logged one huge
// line must not cost clawd its memory.
const maxLogTail = 64 << 10

// TailLogs returns up to n of the last lines of the namespace's gateway
// log, stdout and stderr merged as the engine stored them.
func (r *Runtime) TailLogs(ctx context.Context, ns string, n int) ([]string, error) {
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("reading the log of gateway %s: %w", ns, err)
	}
	var out bytes.Buffer
	err = r.do(ctx, func(ctx context.Context) error {
		out.Reset()
		rc, err := r.api.ContainerLogs(ctx, c.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
		if err != nil {
			return err
		}
		defer rc.Close()
		limited := io.LimitReader(rc, maxLogTail)
		if c.Config != nil && c.Config.Tty {
			_, err = io.Copy(&out, limited)
			return err
		}
		// Both streams into one buffer keeps their order.
		_, err = stdcopy.StdCopy(&out, &out, limited)
		return err
	})
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("reading the log of gateway %s: %w", ns, notFound(err))
	}
	if err != nil {
		return nil, fmt.Errorf("reading the log of gateway %s: %w", ns, err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}
