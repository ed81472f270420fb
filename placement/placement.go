// Package placement decides which node of a cluster runs a namespace: the
// live node with the most free memory budget among those the request
// allows (a named node, a label selector). The store makes the choice and
// the create one transaction (store.PlaceNamespace).
package placement

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// Request is what a namespace create asks of its node.
type Request struct {
	// Node names the node (namespace create --node); "": any.
	Node string `json:"node,omitempty"`
	// Selector are labels the node must have (--node-selector k=v).
	Selector map[string]string `json:"nodeSelector,omitempty"`
}

// NodeSummary is a live node with what its namespaces take of its budget.
type NodeSummary struct {
	store.Node
	// Namespaces placed on the node (being deleted ones excepted).
	Namespaces int `json:"namespaces"`
	// Placed is the memory those namespaces count for: their memory quota,
	// else the node's estimate. Free is the budget minus that (negative:
	// overcommitted, which the node's supervisor settles by putting idle
	// gateways to sleep); without a budget it is not set.
	Placed int64  `json:"placedMemory"`
	Free   *int64 `json:"freeMemory,omitempty"`
}

// Summarize returns every node with the memory its namespaces count for.
func Summarize(nodes []store.Node, specs []namespace.Spec) []NodeSummary {
	out := make([]NodeSummary, 0, len(nodes))
	for _, n := range nodes {
		s := NodeSummary{Node: n}
		for _, sp := range specs {
			if sp.Node == n.Name && !sp.Deleting {
				s.Namespaces++
				s.Placed += need(sp, n)
			}
		}
		if n.MemoryBudget > 0 {
			free := n.MemoryBudget - s.Placed
			s.Free = &free
		}
		out = append(out, s)
	}
	return out
}

func need(sp namespace.Spec, n store.Node) int64 {
	if sp.MemoryBytes > 0 {
		return sp.MemoryBytes
	}
	return n.MemoryEstimate
}

// free is a node's free budget for ranking; a node without a budget
// ranks above every node with one.
func (s NodeSummary) free() int64 {
	if s.Free == nil {
		return math.MaxInt64 - s.Placed
	}
	return *s.Free
}

// Choose picks the node for a new namespace: among the live nodes the
// request allows, the one with the most free budget, then the fewest
// namespaces, then the first by name.
func Choose(nodes []store.Node, specs []namespace.Spec, req Request) (string, error) {
	if len(nodes) == 0 {
		return "", fmt.Errorf("%w: no node of the cluster is alive", store.ErrNoNode)
	}
	var cands []NodeSummary
	for _, s := range Summarize(nodes, specs) {
		if (req.Node != "" && s.Name != req.Node) || s.Draining {
			continue
		}
		if !matches(s.Labels, req.Selector) {
			continue
		}
		cands = append(cands, s)
	}
	if len(cands) == 0 {
		names := make([]string, 0, len(nodes))
		for _, n := range nodes {
			name := n.Name + labelText(n.Labels)
			if n.Draining {
				name += " (draining)"
			}
			names = append(names, name)
		}
		switch {
		case req.Node != "" && len(req.Selector) > 0:
			return "", fmt.Errorf("%w: node %q is not alive or lacks labels %s (live nodes: %s)", store.ErrNoNode, req.Node, SelectorText(req.Selector), strings.Join(names, ", "))
		case req.Node != "":
			return "", fmt.Errorf("%w: node %q is not alive or is draining (live nodes: %s)", store.ErrNoNode, req.Node, strings.Join(names, ", "))
		default:
			return "", fmt.Errorf("%w: no live node has labels %s (live nodes: %s)", store.ErrNoNode, SelectorText(req.Selector), strings.Join(names, ", "))
		}
	}
	best := cands[0]
	for _, c := range cands[1:] {
		if c.free() > best.free() || (c.free() == best.free() && c.Namespaces < best.Namespaces) {
			best = c
		}
	}
	return best.Name, nil
}

func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// SelectorText is a selector as k=v,k2=v2 in key order.
func SelectorText(sel map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		parts = append(parts, k+"="+sel[k])
	}
	return strings.Join(parts, ",")
}

func labelText(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	return "{" + SelectorText(l) + "}"
}

// ParseLabels reads k=v pairs (node labels, a node selector). Keys and
// values are 1-63 letters, digits, '-', '_', '.' and '/'.
func ParseLabels(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok || !validLabel(k) || !validLabel(v) {
			return nil, fmt.Errorf("invalid label %q: want key=value, each 1-63 letters, digits, '-', '_', '.' or '/'", p)
		}
		if old, dup := out[k]; dup && old != v {
			return nil, fmt.Errorf("label %q given twice (%s and %s)", k, old, v)
		}
		out[k] = v
	}
	return out, nil
}

func validLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./", r)) {
			return false
		}
	}
	return true
}

// Placer places new namespaces through the store.
type Placer struct{ st *store.Store }

// New returns a Placer over st.
func New(st *store.Store) *Placer { return &Placer{st: st} }

// Place creates spec on the node Choose picks, in one transaction.
func (p *Placer) Place(ctx context.Context, spec namespace.Spec, req Request) (namespace.Spec, error) {
	return p.st.PlaceNamespace(ctx, spec, func(nodes []store.Node, specs []namespace.Spec) (string, error) {
		return Choose(nodes, specs, req)
	})
}
