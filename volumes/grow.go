package volumes

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/clawd-dev/clawd/units"
)

// grow brings a volume up to size. A marker file holds the target while a
// grow is under way, so a crash halfway (the file extended, the
// filesystem not yet) is finished by the next Ensure. Without
// CAP_SYS_RESOURCE (this kind of host) a mounted filesystem cannot grow:
// the gateway is stopped for it (ErrNeedsStop), the volume unmounted,
// grown and mounted again.
func (m *Manager) grow(ctx context.Context, log hclog.Logger, ns, role, dev string, size int64, stopped bool) error {
	image, marker := m.image(ns, role), m.image(ns, role)+".grow"
	cur, err := imageSize(image)
	if err != nil {
		return err
	}
	if pending, err := os.ReadFile(marker); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(pending)), 10, 64); err == nil {
			size = max(size, n)
		}
	} else if size <= cur {
		return nil
	}
	online := canGrowOnline()
	if !online && !stopped {
		return ErrNeedsStop
	}
	if err := os.WriteFile(marker, []byte(strconv.FormatInt(size, 10)), 0o600); err != nil {
		return err
	}
	start := time.Now()
	if online {
		err = growOnline(ctx, image, dev, size)
	} else {
		mnt := m.mnt(ns, role)
		if err = unix.Unmount(mnt, 0); err != nil {
			return fmt.Errorf("unmounting to grow: %w", err)
		}
		err = growOffline(ctx, image, size)
		if _, merr := m.mount(ctx, log, ns, role, size); err == nil {
			err = merr
		}
	}
	if err != nil {
		return fmt.Errorf("growing to %s: %w", units.FormatBytes(size), err)
	}
	if err := os.Remove(marker); err != nil {
		return err
	}
	log.Info("volume grown", "role", role, "from", cur, "to", size, "online", online, "took", time.Since(start))
	return nil
}
