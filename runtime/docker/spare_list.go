package docker

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/clawd-dev/clawd/runtime"
)

// Spares lists this cluster's warm-pool gateways no namespace has claimed
// (their name is still a spare's), in every state, sorted by id.
func (r *Runtime) Spares(ctx context.Context) ([]runtime.Instance, error) {
	list, err := r.listInstances(ctx, func(inst runtime.Instance) bool {
		return inst.SpareID != "" && r.spareOf(inst.Name) == inst.SpareID
	})
	if err != nil {
		return nil, fmt.Errorf("listing spares: %w", err)
	}
	slices.SortFunc(list, func(a, b runtime.Instance) int {
		return cmp.Or(cmp.Compare(a.SpareID, b.SpareID), cmp.Compare(a.ContainerID, b.ContainerID))
	})
	return list, nil
}
