package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// Objects lists every container, network and volume carrying this cluster's
// labels, for the leak reaper. An adopted warm-pool gateway's container
// gets its namespace from its name; a spare's objects, and the volumes and
// leftover network of an adopted one, have none (their labels cannot
// change): their names hold the spare id (clawd-<cluster>.spare-<id>…).
func (r *Runtime) Objects(ctx context.Context) ([]runtime.Object, error) {
	filters := client.Filters{}.Add("label", r.clusterFilter()...)
	var objs []runtime.Object

	var cs client.ContainerListResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		cs, err = r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing clawd containers: %w", err)
	}
	for _, c := range cs.Items {
		if !r.mine(c.Labels) {
			continue
		}
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		ns := c.Labels[runtime.LabelNamespace]
		if c.Labels[runtime.LabelRole] == roleSpare {
			ns = r.namespaceOf(name)
		}
		objs = append(objs, runtime.Object{
			Kind: "container", ID: c.ID, Name: name, Namespace: ns, Spare: c.Labels[LabelSpare], Created: time.Unix(c.Created, 0),
		})
	}

	var ns client.NetworkListResult
	err = r.do(ctx, func(ctx context.Context) error {
		var err error
		ns, err = r.api.NetworkList(ctx, client.NetworkListOptions{Filters: filters})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing clawd networks: %w", err)
	}
	for _, n := range ns.Items {
		if !r.mine(n.Labels) {
			continue
		}
		objs = append(objs, runtime.Object{
			Kind: "network", ID: n.ID, Name: n.Name,
			Namespace: n.Labels[runtime.LabelNamespace], Spare: n.Labels[LabelSpare], Created: n.Created,
		})
	}

	var vs client.VolumeListResult
	err = r.do(ctx, func(ctx context.Context) error {
		var err error
		vs, err = r.api.VolumeList(ctx, client.VolumeListOptions{Filters: filters})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing clawd volumes: %w", err)
	}
	for _, v := range vs.Items {
		if !r.mine(v.Labels) {
			continue
		}
		objs = append(objs, runtime.Object{
			Kind: "volume", ID: v.Name, Name: v.Name,
			Namespace: v.Labels[runtime.LabelNamespace], Spare: v.Labels[LabelSpare], Created: parseDockerTime(v.CreatedAt),
		})
	}
	return objs, nil
}
