package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	nodeBackoffMin = 200 * time.Millisecond
	nodeBackoffMax = 10 * time.Second
)

// Node is a clawd daemon known to the cluster.
type Node struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	// StartedAt is when the daemon started.
	StartedAt time.Time `json:"startedAt"`
	// SeenAt is when the node last (re)registered; liveness itself is the
	// key's lease, so this is not refreshed on every keepalive.
	SeenAt time.Time `json:"seenAt"`
	// Labels are the node's --node.labels, matched by a namespace's
	// --node-selector.
	Labels map[string]string `json:"labels,omitempty"`
	// MemoryBudget is what the node's gateways may hold together (0: no
	// budget); MemoryEstimate is what a gateway without a memory quota
	// counts as. Placement puts a new namespace where most is free.
	MemoryBudget   int64 `json:"memoryBudget,omitempty"`
	MemoryEstimate int64 `json:"memoryEstimate,omitempty"`
	// PeerAddress is the node's node-to-node TLS listener: other nodes'
	// routers forward its tenants' requests there ("": none).
	PeerAddress string `json:"peerAddress,omitempty"`
	// Draining is set by clawd node drain (kept apart from the lease, so
	// it outlives restarts): nothing is placed on the node.
	Draining bool `json:"draining,omitempty"`
}

func nodeKey(name string) string { return nodePrefix + name }

// RegisterNode publishes n under a lease of ttl (etcd rounds it up to whole
// seconds and to its minimum) and keeps the lease alive until ctx ends.
// The lease is not revoked then: the node disappears when it expires, which
// gives a restarting daemon the ttl as grace before others count it gone.
func (s *Store) RegisterNode(ctx context.Context, n Node, ttl time.Duration) error {
	if n.Name == "" || strings.ContainsAny(n.Name, "/\x00") {
		return fmt.Errorf("registering node: invalid node name %q", n.Name)
	}
	if n.StartedAt.IsZero() {
		n.StartedAt = time.Now().UTC()
	}
	secs := max(int64(math.Ceil(ttl.Seconds())), 1)
	id, err := s.putNode(ctx, n, secs)
	if err != nil {
		return err
	}
	go s.keepNode(ctx, n, secs, id)
	return nil
}

// putNode grants a fresh lease and writes the node's key under it.
func (s *Store) putNode(ctx context.Context, n Node, secs int64) (clientv3.LeaseID, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	lease, err := s.cli.Grant(ctx, secs)
	if err != nil {
		return 0, fmt.Errorf("registering node %s: granting lease: %w", n.Name, err)
	}
	n.SeenAt = time.Now().UTC()
	data, err := json.Marshal(n)
	if err != nil {
		return 0, fmt.Errorf("registering node %s: encoding: %w", n.Name, err)
	}
	// On failure the unused lease simply expires.
	if _, err := s.cli.Put(ctx, nodeKey(n.Name), string(data), clientv3.WithLease(lease.ID)); err != nil {
		return 0, fmt.Errorf("registering node %s: %w", n.Name, err)
	}
	return lease.ID, nil
}

// keepNode keeps the node's lease alive; if etcd drops the lease (expired
// during a partition, revoked by an operator) it registers the node again.
func (s *Store) keepNode(ctx context.Context, n Node, secs int64, id clientv3.LeaseID) {
	log := s.log.With("node", n.Name)
	for {
		ka, err := s.cli.KeepAlive(ctx, id)
		if err == nil {
			for range ka {
				// Drained so the client's response queue never fills; the
				// channel closes when the lease is lost or ctx ends.
			}
		}
		if ctx.Err() != nil || s.cli.Ctx().Err() != nil {
			return
		}
		if err != nil {
			log.Warn("node lease lost; registering again", "lease", int64(id), "error", err)
		} else {
			log.Warn("node lease lost; registering again", "lease", int64(id))
		}

		backoff := nodeBackoffMin
		for {
			id, err = s.putNode(ctx, n, secs)
			if err == nil {
				log.Info("node registered again", "lease", int64(id))
				break
			}
			if ctx.Err() != nil || s.cli.Ctx().Err() != nil {
				return
			}
			log.Warn("registering node again failed", "backoff", backoff, "error", err)
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = nextBackoff(backoff, nodeBackoffMax)
		}
	}
}

// ListNodes returns the nodes whose lease is alive, sorted by name.
func (s *Store) ListNodes(ctx context.Context) ([]Node, error) {
	_, kvs, err := s.list(ctx, nodePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	nodes := make([]Node, 0, len(kvs))
	for _, kv := range kvs {
		var n Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return nil, fmt.Errorf("listing nodes: decoding %s: %w", kv.Key, err)
		}
		nodes = append(nodes, n)
	}
	_, drains, err := s.list(ctx, drainPrefix)
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	markDraining(nodes, drains)
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return nodes, nil
}
