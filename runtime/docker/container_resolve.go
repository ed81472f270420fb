package docker

import (
	"context"

	"github.com/moby/moby/api/types/container"
)

// resolve finds the namespace's container and proves it is ours before any
// state change; the id it returns pins the following call to that container
// even if the name is reused meanwhile.
func (r *Runtime) resolve(ctx context.Context, ns string) (container.InspectResponse, error) {
	if err := checkNamespace(ns); err != nil {
		return container.InspectResponse{}, err
	}
	return r.inspectContainer(ctx, r.containerName(ns))
}

// status is the container's Docker state, "" when unknown.
func status(c container.InspectResponse) container.ContainerState {
	if c.State == nil {
		return ""
	}
	return c.State.Status
}
