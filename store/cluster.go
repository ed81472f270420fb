package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const keyClusterCA = keyPrefix + "cluster/ca"

// ClusterCA returns the cluster's node-to-node CA as stored, creating it
// with create when there is none. The create-if-absent txn reads the
// winner's on failure, so nodes starting together agree on one CA.
func (s *Store) ClusterCA(ctx context.Context, create func() (string, error)) (string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, keyClusterCA)
	if err != nil {
		return "", fmt.Errorf("reading the cluster CA: %w", err)
	}
	if len(resp.Kvs) > 0 {
		return string(resp.Kvs[0].Value), nil
	}
	v, err := create()
	if err != nil {
		return "", fmt.Errorf("creating the cluster CA: %w", err)
	}
	tr, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(keyClusterCA), "=", 0)).
		Then(clientv3.OpPut(keyClusterCA, v)).
		Else(clientv3.OpGet(keyClusterCA)).
		Commit()
	if err != nil {
		return "", fmt.Errorf("storing the cluster CA: %w", err)
	}
	if tr.Succeeded {
		return v, nil
	}
	kvs := tr.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return "", fmt.Errorf("storing the cluster CA: refused, and none is stored")
	}
	return string(kvs[0].Value), nil
}

const drainPrefix = keyPrefix + "drain/"

// SetDraining marks a node draining (clawd node drain) or not: nothing is
// placed on a draining node. The mark outlives the node's lease.
func (s *Store) SetDraining(ctx context.Context, node string, on bool) error {
	if node == "" || strings.ContainsAny(node, "/\x00") {
		return fmt.Errorf("draining node: invalid node name %q", node)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var err error
	if on {
		_, err = s.cli.Put(ctx, drainPrefix+node, time.Now().UTC().Format(time.RFC3339))
	} else {
		_, err = s.cli.Delete(ctx, drainPrefix+node)
	}
	if err != nil {
		return fmt.Errorf("draining node %s: %w", node, err)
	}
	return nil
}

func markDraining(nodes []Node, drains []*mvccpb.KeyValue) {
	for _, kv := range drains {
		name := strings.TrimPrefix(string(kv.Key), drainPrefix)
		for i := range nodes {
			if nodes[i].Name == name {
				nodes[i].Draining = true
			}
		}
	}
}
