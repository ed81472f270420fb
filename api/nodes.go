package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/placement"
	"github.com/clawd-dev/clawd/store"
)

// Placer creates a namespace on the node a placement request allows
// (placement.Placer): the choice and the create are one transaction.
type Placer interface {
	Place(ctx context.Context, spec namespace.Spec, req placement.Request) (namespace.Spec, error)
}

// create stores spec on its node: the Placer's choice, else this node.
func (s *Server) create(ctx context.Context, spec *namespace.Spec, req CreateRequest) error {
	for k, v := range req.NodeSelector {
		if _, err := placement.ParseLabels([]string{k + "=" + v}); err != nil {
			return invalid("--node-selector: %v", err)
		}
	}
	if s.cfg.Placer == nil {
		if (req.Node != "" && req.Node != s.cfg.Node) || len(req.NodeSelector) > 0 {
			return invalid("this server does not place namespaces on other nodes; leave out --node and --node-selector")
		}
		return s.st.CreateNamespace(ctx, *spec)
	}
	if len(req.NodeSelector) > 0 {
		spec.NodeSelector = req.NodeSelector
	}
	placed, err := s.cfg.Placer.Place(ctx, *spec, placement.Request{Node: req.Node, Selector: req.NodeSelector})
	if err != nil {
		return err
	}
	*spec = placed
	return nil
}

// nodeSummary is every live node with what its namespaces take of its
// budget, and the namespaces it was summed from: clawd node list and
// clawd status both show it.
func (s *Server) nodeSummary(ctx context.Context) ([]placement.NodeSummary, []namespace.Namespace, error) {
	nodes, err := s.st.ListNodes(ctx)
	if err != nil {
		return nil, nil, err
	}
	list, err := s.st.ListNamespaces(ctx)
	if err != nil {
		return nil, nil, err
	}
	specs := make([]namespace.Spec, 0, len(list))
	for _, ns := range list {
		specs = append(specs, ns.Spec)
	}
	return placement.Summarize(nodes, specs), list, nil
}

// listNodes is clawd node list: the live nodes, their labels and budgets.
func (s *Server) listNodes(r *http.Request) (int, any, error) {
	sum, _, err := s.nodeSummary(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, sum, nil
}

// Drainer marks nodes draining (store.Store).
type Drainer interface {
	SetDraining(ctx context.Context, node string, on bool) error
}

// DrainReply is what clawd node drain did.
type DrainReply struct {
	Node  string       `json:"node"`
	Moved []DrainMoved `json:"moved"`
}

// DrainMoved is one namespace drained off the node.
type DrainMoved struct {
	Namespace string `json:"namespace"`
	To        string `json:"to"`
	// Phase is what it was before: a Running one was stopped here and
	// started there, a Paused or Stopped one only re-placed.
	Phase namespace.Phase `json:"phase"`
}

// drainWait bounds the wait for one gateway to stop before it moves.
const drainWait = 90 * time.Second

// drainNode moves every namespace off a node: marked draining first (so
// nothing new lands there), then for each namespace: a running gateway is
// stopped where it is, the namespace placed on another live node, and
// started there on the same data (volumes must be shared, --volumes.shared);
// a sleeping one is only placed elsewhere.
func (s *Server) drainNode(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	d, ok := s.st.(Drainer)
	if !ok {
		return 0, nil, conflict{errors.New("this server cannot drain nodes")}
	}
	ctx := r.Context()
	nodes, err := s.st.ListNodes(ctx)
	if err != nil {
		return 0, nil, err
	}
	list, err := s.st.ListNamespaces(ctx)
	if err != nil {
		return 0, nil, err
	}
	known := false
	for _, n := range nodes {
		known = known || n.Name == name
	}
	var on []namespace.Namespace
	for _, ns := range list {
		if ns.Spec.Node == name && !ns.Spec.Deleting {
			on = append(on, ns)
		}
	}
	if !known && len(on) == 0 {
		return 0, nil, fmt.Errorf("node %q: %w (no live node and no namespace has that name)", name, store.ErrNotFound)
	}
	if len(on) > 0 && !s.cfg.SharedVolumes {
		return 0, nil, conflict{fmt.Errorf("node %s has %d namespaces whose data is on that host: drain moves them only with volumes on shared storage (clawd up --volumes.shared on every node)", name, len(on))}
	}
	var others []store.Node
	for _, n := range nodes {
		if n.Name != name {
			others = append(others, n)
		}
	}
	if len(on) > 0 && len(others) == 0 {
		return 0, nil, conflict{fmt.Errorf("node %s is the only live node: there is nowhere to move its namespaces", name)}
	}
	noteAudit(r, "", name)
	if err := d.SetDraining(ctx, name, true); err != nil {
		return 0, nil, err
	}
	rep := DrainReply{Node: name, Moved: []DrainMoved{}}
	// A client that leaves does not stop the drain half-way through a
	// namespace (stopped here, not yet placed there).
	ctx = context.WithoutCancel(ctx)
	for _, ns := range on {
		m, err := s.drainOne(ctx, ns, name)
		if err != nil {
			return 0, nil, fmt.Errorf("draining node %s: namespace %s: %w (%d moved before it; run drain again)", name, ns.Spec.Name, err, len(rep.Moved))
		}
		rep.Moved = append(rep.Moved, m)
	}
	return http.StatusOK, rep, nil
}

func (s *Server) drainOne(ctx context.Context, ns namespace.Namespace, from string) (DrainMoved, error) {
	m := DrainMoved{Namespace: ns.Spec.Name, Phase: ns.Status.Phase}
	target := ns.Spec.Target
	if target == "" && ns.Status.Phase != namespace.PhaseStopped && ns.Status.Phase != namespace.PhaseEvicted {
		// Stop it where it is, so two copies never run on the same data:
		// also one that is starting and has no container in its status yet.
		if _, err := s.st.UpdateSpec(ctx, ns.Spec.Name, func(sp *namespace.Spec) error {
			sp.Target = namespace.PhaseStopped
			return nil
		}); err != nil {
			return m, err
		}
		deadline := time.Now().Add(drainWait)
		for {
			cur, err := s.st.GetNamespace(ctx, ns.Spec.Name)
			if err != nil {
				return m, err
			}
			if p := cur.Status.Phase; p == namespace.PhaseStopped || p == namespace.PhaseEvicted || p == namespace.PhaseFailed {
				break
			}
			if time.Now().After(deadline) {
				return m, fmt.Errorf("its gateway on %s did not stop in %s", from, drainWait)
			}
			select {
			case <-ctx.Done():
				return m, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	nodes, err := s.st.ListNodes(ctx)
	if err != nil {
		return m, err
	}
	list, err := s.st.ListNamespaces(ctx)
	if err != nil {
		return m, err
	}
	specs := make([]namespace.Spec, 0, len(list))
	for _, n := range list {
		specs = append(specs, n.Spec)
	}
	to, err := placement.Choose(nodes, specs, placement.Request{Selector: ns.Spec.NodeSelector})
	if err != nil {
		return m, err
	}
	_, err = s.st.UpdateSpec(ctx, ns.Spec.Name, func(sp *namespace.Spec) error {
		if sp.Node != from {
			return conflict{fmt.Errorf("it moved to %s meanwhile", sp.Node)}
		}
		sp.Node, sp.Target = to, target
		return nil
	})
	m.To = to
	return m, err
}

// undrainNode lets namespaces be placed on the node again.
func (s *Server) undrainNode(r *http.Request) (int, any, error) {
	d, ok := s.st.(Drainer)
	if !ok {
		return 0, nil, conflict{errors.New("this server cannot drain nodes")}
	}
	noteAudit(r, "", r.PathValue("name"))
	if err := d.SetDraining(r.Context(), r.PathValue("name"), false); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
