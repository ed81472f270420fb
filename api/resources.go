package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/resources"
)

// ResourceHistory is the recent cgroup readings of this node's gateways
// (resources.History, fed by the metering sampler).
type ResourceHistory interface {
	Window() time.Duration
	Since(ns string, from time.Time) []resources.Point
}

// MemoryBudget is the supervisor's memory budget on this node.
type MemoryBudget interface {
	// MemoryBudget returns the budget (0: none) and what the gateways and
	// spares hold or are promised.
	MemoryBudget() (budget, used int64)
}

// MemoryStatus is the memory budget in clawd status.
type MemoryStatus struct {
	BudgetBytes int64 `json:"budgetBytes"`
	UsedBytes   int64 `json:"usedBytes"`
}

// ResourcesReply is GET /api/v1/namespaces/{name}/resources.
type ResourcesReply struct {
	Namespace string `json:"namespace"`
	Window    string `json:"window"`
	// Node is the node whose readings these are: a namespace's history is
	// kept by the node that runs it.
	Node   string            `json:"node"`
	Points []resources.Point `json:"points"`
}

func (s *Server) routeResources() {
	s.handle("GET /api/v1/namespaces/{name}/resources", s.namespaceResources)
	s.handle("GET /api/v1/resources", s.allResources)
}

// namespaceResources is the last ?window= (default and most: the
// history's window) of a namespace's CPU and memory readings.
func (s *Server) namespaceResources(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return 0, nil, badRequest{err}
	}
	window, err := s.resourceWindow(r)
	if err != nil {
		return 0, nil, err
	}
	if _, err := s.st.GetNamespace(r.Context(), name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ResourcesReply{Namespace: name, Window: window.String(), Node: s.cfg.Node,
		Points: s.cfg.Resources.Since(name, time.Now().Add(-window))}, nil
}

// allResources is namespaceResources for every namespace, in one call (the
// console's table polls it): those this node has no readings of in the
// window are left out.
func (s *Server) allResources(r *http.Request) (int, any, error) {
	window, err := s.resourceWindow(r)
	if err != nil {
		return 0, nil, err
	}
	list, err := s.st.ListNamespaces(r.Context())
	if err != nil {
		return 0, nil, err
	}
	from := time.Now().Add(-window)
	out := []ResourcesReply{}
	for _, ns := range list {
		if pts := s.cfg.Resources.Since(ns.Spec.Name, from); len(pts) > 0 {
			out = append(out, ResourcesReply{Namespace: ns.Spec.Name, Window: window.String(), Node: s.cfg.Node, Points: pts})
		}
	}
	return http.StatusOK, out, nil
}

// resourceWindow is ?window=, checked against what the history keeps.
func (s *Server) resourceWindow(r *http.Request) (time.Duration, error) {
	if s.cfg.Resources == nil {
		return 0, conflict{errors.New("this clawd keeps no resource history")}
	}
	most := s.cfg.Resources.Window()
	v := r.URL.Query().Get("window")
	if v == "" {
		return most, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, invalid("window %q is not a duration like 15m or 1h", v)
	}
	if d > most {
		return 0, invalid("window %s is longer than the %s of readings clawd keeps", v, most)
	}
	return d, nil
}
