package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// maxLogTail caps what TailLogs reads: a gateway that logged one huge
// line must not cost clawd its memory.
const maxLogTail = 64 << 10

// TailLogs returns up to n of the last lines of the namespace's gateway
// log, stdout and stderr merged in the order they were written.
func (r *Runtime) TailLogs(ctx context.Context, ns string, n int) ([]string, error) {
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("reading the log of gateway %s: %w", ns, err)
	}
	var out bytes.Buffer
	err = r.do(ctx, func(ctx context.Context) error {
		out.Reset()
		rc, err := r.api.ContainerLogs(ctx, c.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Tail: strconv.Itoa(n)})
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
	return byTime(out.String(), n), nil
}

// byTime orders the engine's timestamped lines by their timestamps (some
// log drivers hand back stdout and stderr one after the other), strips the
// stamps and keeps the last n.
func byTime(out string, n int) []string {
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		stamp, text, _ := strings.Cut(l, " ")
		at, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			at, text = time.Time{}, l
		}
		lines = append(lines, line{at, text})
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out2 := make([]string, len(lines))
	for i, l := range lines {
		out2[i] = l.text
	}
	return out2
}
