package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/clawd-dev/clawd/namespace"
)

// maxPlacementTries bounds how often PlaceNamespace reads again because a
// spec or the chosen node changed between its read and its write.
const maxPlacementTries = 20

// ChooseNode picks a node for spec from the live nodes and the specs
// already stored, all read at one revision.
type ChooseNode func(nodes []Node, specs []namespace.Spec) (string, error)

// PlaceNamespace stores a new namespace on the node choose picks. The
// choice and the create are one transaction guarded by what choose saw:
// the node's lease is still alive and no spec was created or changed since
// the read, so two concurrent placements never both count the same free
// memory, and a namespace only ever has the one node its spec names. It
// returns the spec as stored (with Node set).
func (s *Store) PlaceNamespace(ctx context.Context, spec namespace.Spec, choose ChooseNode) (namespace.Spec, error) {
	if err := checkName(spec.Name); err != nil {
		return spec, fmt.Errorf("creating namespace: %w", err)
	}
	for range maxPlacementTries {
		nodes, specs, rev, err := s.placementView(ctx)
		if err != nil {
			return spec, fmt.Errorf("placing namespace %s: %w", spec.Name, err)
		}
		node, err := choose(nodes, specs)
		if err != nil {
			return spec, err
		}
		spec.Node = node
		guards := []clientv3.Cmp{
			clientv3.Compare(clientv3.CreateRevision(nodeKey(node)), ">", 0),
			clientv3.Compare(clientv3.ModRevision(specPrefix), "<", rev+1).WithPrefix(),
		}
		guarded, err := s.createNamespace(ctx, spec, guards)
		if err == nil || !guarded {
			return spec, err
		}
	}
	return spec, fmt.Errorf("placing namespace %s: the cluster kept changing; try again", spec.Name)
}

// placementView reads the live nodes and every spec at one revision.
func (s *Store) placementView(ctx context.Context) ([]Node, []namespace.Spec, int64, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(nodePrefix, clientv3.WithPrefix()),
		clientv3.OpGet(specPrefix, clientv3.WithPrefix()),
		clientv3.OpGet(drainPrefix, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, nil, 0, err
	}
	var nodes []Node
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		var n Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return nil, nil, 0, fmt.Errorf("decoding %s: %w", kv.Key, err)
		}
		nodes = append(nodes, n)
	}
	markDraining(nodes, resp.Responses[2].GetResponseRange().Kvs)
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	var specs []namespace.Spec
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		var sp namespace.Spec
		if err := json.Unmarshal(kv.Value, &sp); err != nil {
			return nil, nil, 0, fmt.Errorf("decoding %s: %w", kv.Key, err)
		}
		specs = append(specs, sp)
	}
	return nodes, specs, resp.Header.Revision, nil
}

// ErrNoNode reports that no live node may take a namespace.
var ErrNoNode = errors.New("no node can take the namespace")
