package docker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// fakeNetworks serves the network calls ensureNetwork makes; any other call
// panics through the nil embedded interface.
type fakeNetworks struct {
	client.APIClient
	list      []network.Summary
	endpoints map[string]int // network id → attached containers
	created   []string
	removed   []string
}

func (f *fakeNetworks) NetworkList(context.Context, client.NetworkListOptions) (client.NetworkListResult, error) {
	return client.NetworkListResult{Items: f.list}, nil
}

func (f *fakeNetworks) NetworkCreate(_ context.Context, name string, opts client.NetworkCreateOptions) (client.NetworkCreateResult, error) {
	id := "new"
	f.created = append(f.created, name)
	f.list = append(f.list, network.Summary{Network: network.Network{ID: id, Name: name, Labels: opts.Labels, Created: time.Now()}})
	return client.NetworkCreateResult{ID: id}, nil
}

func (f *fakeNetworks) NetworkInspect(_ context.Context, id string, _ client.NetworkInspectOptions) (client.NetworkInspectResult, error) {
	res := client.NetworkInspectResult{}
	res.Network.Containers = map[string]network.EndpointResource{}
	for i := range f.endpoints[id] {
		res.Network.Containers[string(rune('a'+i))] = network.EndpointResource{}
	}
	return res, nil
}

func (f *fakeNetworks) NetworkRemove(_ context.Context, id string, _ client.NetworkRemoveOptions) (client.NetworkRemoveResult, error) {
	f.removed = append(f.removed, id)
	return client.NetworkRemoveResult{}, nil
}

func TestEnsureNetwork(t *testing.T) {
	cfg := Config{ClusterID: "cluster-a"}
	base := newRuntime(nil, cfg)
	name := base.networkName("acme")
	ours := base.labels("acme", roleNetwork)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	net := func(id, name string, labels map[string]string, age int) network.Summary {
		return network.Summary{Network: network.Network{ID: id, Name: name, Labels: labels, Created: t0.Add(time.Duration(age) * time.Second)}}
	}

	t.Run("creates when missing", func(t *testing.T) {
		f := &fakeNetworks{list: []network.Summary{net("other", name+"-x", ours, 0)}} // substring match only
		id, err := newRuntime(f, cfg).ensureNetwork(context.Background(), "acme")
		if err != nil || id != "new" || len(f.created) != 1 {
			t.Fatalf("id %q err %v created %v", id, err, f.created)
		}
	})
	t.Run("keeps the oldest and removes empty duplicates", func(t *testing.T) {
		f := &fakeNetworks{
			list:      []network.Summary{net("b", name, ours, 2), net("a", name, ours, 1), net("c", name, ours, 3)},
			endpoints: map[string]int{"c": 1},
		}
		id, err := newRuntime(f, cfg).ensureNetwork(context.Background(), "acme")
		if err != nil || id != "a" {
			t.Fatalf("id %q err %v", id, err)
		}
		// c has a container attached and must survive.
		if len(f.created) != 0 || len(f.removed) != 1 || f.removed[0] != "b" {
			t.Fatalf("created %v removed %v", f.created, f.removed)
		}
	})
	t.Run("refuses a foreign network", func(t *testing.T) {
		f := &fakeNetworks{list: []network.Summary{net("z", name, map[string]string{"x": "y"}, 0)}}
		_, err := newRuntime(f, cfg).ensureNetwork(context.Background(), "acme")
		var no *NotOwnedError
		if !errors.As(err, &no) || no.ID != "z" || len(f.created)+len(f.removed) != 0 {
			t.Fatalf("err %v created %v removed %v", err, f.created, f.removed)
		}
	})
}
