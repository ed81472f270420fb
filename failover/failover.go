// Package failover deals with nodes that are gone. A node whose lease
// has expired for longer than a grace is declared gone: with volumes on
// storage every node shares, its namespaces are placed on live nodes (the
// supervisor there starts them on the same data); without, they are
// marked Failed with the reason until the node returns. A node that
// finds a gateway of a namespace placed elsewhere (it was gone, the
// namespace moved) removes that container once the grace has passed,
// rather than running a second copy; the container's cluster label proves
// it is clawd's, its namespace label says whose.
package failover

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/placement"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/store"
)

// Store is what failover reads and writes.
type Store interface {
	ListNodes(ctx context.Context) ([]store.Node, error)
	ListNamespaces(ctx context.Context) ([]namespace.Namespace, error)
	UpdateSpec(ctx context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error)
	PutStatus(ctx context.Context, name string, st namespace.Status) error
}

// Runtime lists and removes this node's gateways (label-proven: List
// returns only containers of this cluster that this node made, so a
// neighbour sharing the Docker engine is never taken for a stale copy).
type Runtime interface {
	List(ctx context.Context) ([]runtime.Instance, error)
	Remove(ctx context.Context, namespace string, opts runtime.RemoveOptions) error
	Stop(ctx context.Context, namespace string, timeout time.Duration) error
}

// Config tunes the watcher.
type Config struct {
	// Node is this node's name.
	Node string
	// Grace is how long a node's lease must stay expired before it is
	// declared gone, and how long a container of a namespace placed
	// elsewhere is left before it is removed.
	Grace time.Duration
	// Shared says volumes are on storage every node reaches
	// (--volumes.shared): a gone node's namespaces are re-placed.
	Shared bool
	// FenceAfter: with Shared, a node that has not reached the store for
	// this long (the node lease's TTL) stops its gateways, since the
	// others may soon start them on the same data (0: never).
	FenceAfter time.Duration
	Interval   time.Duration
	Logger     hclog.Logger
}

// Watcher declares nodes gone and cleans up after moves.
type Watcher struct {
	cfg   Config
	st    Store
	rt    Runtime
	log   hclog.Logger
	gone  map[string]time.Time // node → first seen without a lease
	stale map[string]time.Time // namespace → first seen running here though placed elsewhere
	// lastSeen is when the store last answered; fenced is set once the
	// gateways were stopped for want of it.
	lastSeen time.Time
	fenced   atomic.Bool
}

// Fenced reports that this node stopped its gateways for want of the
// store and must not start any until it is back in touch.
func (w *Watcher) Fenced() bool { return w.fenced.Load() }

// New makes a Watcher; Run runs it.
func New(cfg Config, st Store, rt Runtime) *Watcher {
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Watcher{cfg: cfg, st: st, rt: rt, log: cfg.Logger, gone: map[string]time.Time{}, stale: map[string]time.Time{}}
}

// Run checks every Interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	for {
		w.Pass(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.cfg.Interval):
		}
	}
}

var errMoved = errors.New("already moved")

// Pass makes one check at now.
func (w *Watcher) Pass(ctx context.Context, now time.Time) {
	if w.lastSeen.IsZero() {
		w.lastSeen = now
	}
	nodes, err := w.st.ListNodes(ctx)
	if err != nil {
		w.log.Warn("listing nodes failed", "error", err)
		w.fence(ctx, now)
		return
	}
	w.lastSeen = now
	if w.fenced.Swap(false) {
		w.log.Info("the store answers again; gateways may start")
	}
	list, err := w.st.ListNamespaces(ctx)
	if err != nil {
		w.log.Warn("listing namespaces failed", "error", err)
		return
	}
	live := map[string]bool{}
	for _, n := range nodes {
		live[n.Name] = true
		delete(w.gone, n.Name)
	}
	specs := make([]namespace.Spec, 0, len(list))
	byName := map[string]namespace.Namespace{}
	for _, ns := range list {
		specs = append(specs, ns.Spec)
		byName[ns.Spec.Name] = ns
	}
	for _, ns := range list {
		node := ns.Spec.Node
		if node == "" || live[node] || ns.Spec.Deleting {
			continue
		}
		since, ok := w.gone[node]
		if !ok {
			w.gone[node] = now
			w.log.Warn("node has no lease; declared gone after the grace", "node", node, "grace", w.cfg.Grace)
			continue
		}
		if now.Sub(since) < w.cfg.Grace {
			continue
		}
		if w.cfg.Shared {
			w.move(ctx, ns, nodes, specs, since)
		} else {
			w.fail(ctx, ns, since)
		}
	}
	w.removeStale(ctx, byName, now)
}

// move places a gone node's namespace on a live node.
func (w *Watcher) move(ctx context.Context, ns namespace.Namespace, nodes []store.Node, specs []namespace.Spec, since time.Time) {
	from := ns.Spec.Node
	to, err := placement.Choose(nodes, specs, placement.Request{Selector: ns.Spec.NodeSelector})
	if err != nil {
		w.fail(ctx, ns, since)
		return
	}
	_, err = w.st.UpdateSpec(ctx, ns.Spec.Name, func(sp *namespace.Spec) error {
		if sp.Node != from {
			return errMoved // another node's watcher was first
		}
		sp.Node = to
		return nil
	})
	if errors.Is(err, errMoved) || errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		w.log.Warn("moving namespace off a gone node failed", "namespace", ns.Spec.Name, "from", from, "to", to, "error", err)
		return
	}
	w.log.Warn("namespace moved off a gone node", "namespace", ns.Spec.Name, "from", from, "to", to, "gone_since", since)
	_ = w.st.PutStatus(ctx, ns.Spec.Name, namespace.Status{Phase: namespace.PhasePending, Node: to, Since: time.Now().UTC(),
		Reason: fmt.Sprintf("moved from node %s, gone since %s", from, since.UTC().Format(time.RFC3339))})
}

// fail marks a gone node's namespace Failed: its data is on that host.
func (w *Watcher) fail(ctx context.Context, ns namespace.Namespace, since time.Time) {
	reason := fmt.Sprintf("node %s is gone (no lease since %s); its data is on that host, so the namespace waits for it (with --volumes.shared it would move)",
		ns.Spec.Node, since.UTC().Format(time.RFC3339))
	if ns.Status.Phase == namespace.PhaseFailed && ns.Status.Reason == reason {
		return
	}
	st := ns.Status
	st.Phase, st.Reason, st.Since, st.Address = namespace.PhaseFailed, reason, time.Now().UTC(), ""
	if err := w.st.PutStatus(ctx, ns.Spec.Name, st); err != nil && !errors.Is(err, store.ErrNotFound) {
		w.log.Warn("marking a gone node's namespace Failed failed", "namespace", ns.Spec.Name, "error", err)
		return
	}
	w.log.Warn("namespace failed with its node", "namespace", ns.Spec.Name, "node", ns.Spec.Node)
}

// removeStale removes this node's containers of namespaces placed on
// another node, once they have been so for the grace (the volumes stay).
func (w *Watcher) removeStale(ctx context.Context, byName map[string]namespace.Namespace, now time.Time) {
	insts, err := w.rt.List(ctx)
	if err != nil {
		w.log.Warn("listing gateways failed", "error", err)
		return
	}
	seen := map[string]bool{}
	for _, in := range insts {
		ns, ok := byName[in.Namespace]
		if in.Namespace == "" || !ok || ns.Spec.Node == "" || ns.Spec.Node == w.cfg.Node {
			continue
		}
		seen[in.Namespace] = true
		since, ok := w.stale[in.Namespace]
		if !ok {
			w.stale[in.Namespace] = now
			continue
		}
		if now.Sub(since) < w.cfg.Grace {
			continue
		}
		if err := w.rt.Remove(ctx, in.Namespace, runtime.RemoveOptions{}); err != nil {
			w.log.Warn("removing a gateway of a namespace placed elsewhere failed", "namespace", in.Namespace, "error", err)
			continue
		}
		w.log.Warn("removed the gateway of a namespace now placed on another node", "namespace", in.Namespace, "node", ns.Spec.Node, "container", in.Name)
		delete(w.stale, in.Namespace)
	}
	for name := range w.stale {
		if !seen[name] {
			delete(w.stale, name)
		}
	}
}

// fence stops every gateway of this node once the store has been out of
// reach for FenceAfter with shared volumes: the other nodes count this
// one gone after its lease and the grace, and start its namespaces on the
// same data; two gateways must never write it at once. Back in touch, the
// supervisor starts them again, or removeStale removes those moved away.
func (w *Watcher) fence(ctx context.Context, now time.Time) {
	if !w.cfg.Shared || w.cfg.FenceAfter <= 0 || now.Sub(w.lastSeen) < w.cfg.FenceAfter {
		return
	}
	// Set first: from now on the supervisor starts nothing; each pass
	// stops whatever still runs.
	w.fenced.Store(true)
	insts, err := w.rt.List(ctx)
	if err != nil {
		w.log.Warn("fencing: listing gateways failed", "error", err)
		return
	}
	for _, in := range insts {
		if in.Namespace == "" || in.State != runtime.StateRunning {
			continue
		}
		if err := w.rt.Stop(ctx, in.Namespace, 5*time.Second); err != nil {
			w.log.Warn("fencing: stopping a gateway failed", "namespace", in.Namespace, "error", err)
			continue
		}
		w.log.Warn("fenced: gateway stopped, the store has been out of reach too long to be sure it still runs here", "namespace", in.Namespace, "since", w.lastSeen)
	}
}
