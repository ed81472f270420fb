package volumes

import (
	"context"

	"github.com/clawd-dev/clawd/internal/diskusage"
)

// DiskUsage is what namespace ns's files on its own volumes take, in
// bytes (allocated blocks, hard links counted once; the filesystem's own
// metadata not counted): what storage metering bills. It walks the
// volumes' roots without following links; an encrypted volume whose key
// is removed is measured all the same. A volume that is not mounted
// counts 0.
func (m *Manager) DiskUsage(ctx context.Context, ns string) (int64, error) {
	var total int64
	for _, role := range []string{Data, Skills} {
		if _, ok, err := mountAt(m.mnt(ns, role)); err != nil || !ok {
			continue
		}
		n, err := diskusage.Tree(ctx, m.root(ns, role))
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
