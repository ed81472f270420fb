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
}

// namespaceResources is the last ?window= (default and most: the
// history's window) of a namespace's CPU and memory readings.
func (s *Server) namespaceResources(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return 0, nil, badRequest{err}
	}
	if s.cfg.Resources == nil {
		return 0, nil, conflict{errors.New("this clawd keeps no resource history")}
	}
	most := s.cfg.Resources.Window()
	window := most
	if v := r.URL.Query().Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, nil, invalid("window %q is not a duration like 15m or 1h", v)
		}
		if d > most {
			return 0, nil, invalid("window %s is longer than the %s of readings clawd keeps", v, most)
		}
		window = d
	}
	if _, err := s.st.GetNamespace(r.Context(), name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ResourcesReply{Namespace: name, Window: window.String(), Node: s.cfg.Node,
		Points: s.cfg.Resources.Since(name, time.Now().Add(-window))}, nil
}
