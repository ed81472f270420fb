package api

import (
	"context"
	"net/http"

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
	placed, err := s.cfg.Placer.Place(ctx, *spec, placement.Request{Node: req.Node, Selector: req.NodeSelector})
	if err != nil {
		return err
	}
	*spec = placed
	return nil
}

// summarize is every live node with what its namespaces take of its budget.
func summarize(nodes []store.Node, list []namespace.Namespace) []placement.NodeSummary {
	specs := make([]namespace.Spec, 0, len(list))
	for _, ns := range list {
		specs = append(specs, ns.Spec)
	}
	return placement.Summarize(nodes, specs)
}

// listNodes is clawd node list: the live nodes, their labels and budgets.
func (s *Server) listNodes(r *http.Request) (int, any, error) {
	nodes, err := s.st.ListNodes(r.Context())
	if err != nil {
		return 0, nil, err
	}
	list, err := s.st.ListNamespaces(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, summarize(nodes, list), nil
}
