package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const upgradePrefix = keyPrefix + "upgrades/"

// KeepBehaviour is for a default that a new clawd changes: once per
// cluster (the marker guards it), every namespace that exists and sets
// neither namespaces.<ns>.<leaf> nor namespaces.*.<leaf> gets old pinned,
// so an upgrade changes nothing behind the operator's back; namespaces
// created afterwards get the new default. It returns the namespaces it
// pinned (none on a new cluster, or when another node already ran it).
func (s *Store) KeepBehaviour(ctx context.Context, marker, leaf, old string) ([]string, error) {
	markerKey := upgradePrefix + marker
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, markerKey)
	if err != nil {
		return nil, fmt.Errorf("upgrade %s: %w", marker, err)
	}
	if len(resp.Kvs) > 0 {
		return nil, nil
	}
	list, err := s.ListNamespaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("upgrade %s: %w", marker, err)
	}
	values, err := s.ListConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("upgrade %s: %w", marker, err)
	}
	var pinned []string
	ops := []clientv3.Op{clientv3.OpPut(markerKey, leaf+"="+old)}
	if _, every := values["namespaces.*."+leaf]; !every {
		for _, ns := range list {
			key := "namespaces." + ns.Spec.Name + "." + leaf
			if _, set := values[key]; set {
				continue
			}
			pinned = append(pinned, ns.Spec.Name)
			ops = append(ops, clientv3.OpPut(configKey(key), old))
		}
	}
	txn, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(markerKey), "=", 0)).
		Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("upgrade %s: %w", marker, err)
	}
	if !txn.Succeeded {
		return nil, nil // another node ran it
	}
	return pinned, nil
}
