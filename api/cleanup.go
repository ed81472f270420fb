package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/retention"
	"github.com/clawd-dev/clawd/units"
)

// Cleaner serves POST /api/v1/namespaces/{name}/cleanup.
type Cleaner interface {
	Clean(ctx context.Context, req retention.Request) (*retention.Report, error)
}

// cleanupRequest is the body of a cleanup: what is older than OlderThan
// goes, of Kinds (empty: every kind); DryRun (the default) only lists it.
type cleanupRequest struct {
	OlderThan string   `json:"olderThan"`
	DryRun    *bool    `json:"dryRun"`
	Kinds     []string `json:"kinds"`
}

// cleanupNamespace lists (dry run) or removes a namespace's conversations,
// logs and ledger rows older than a duration. It reaches the volume from
// the host: a sleeping namespace stays asleep.
func (s *Server) cleanupNamespace(r *http.Request) (int, any, error) {
	if s.cfg.Cleanup == nil {
		return 0, nil, conflict{fmt.Errorf("this clawd has no cleanup (no ledger or no runtime volumes)")}
	}
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return 0, nil, invalid("%v", err)
	}
	var body cleanupRequest
	if err := decode(r, &body); err != nil {
		return 0, nil, err
	}
	if body.OlderThan == "" {
		return 0, nil, invalid("olderThan is required, e.g. \"90d\"")
	}
	age, err := units.ParseDuration(body.OlderThan)
	if err != nil {
		return 0, nil, invalid("olderThan: %v", err)
	}
	req := retention.Request{Namespace: name, OlderThan: map[retention.Kind]time.Duration{}, DryRun: body.DryRun == nil || *body.DryRun, Actor: adminActor}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		req.Actor = "console"
	}
	for _, k := range body.Kinds {
		if !slices.Contains(retention.Kinds, retention.Kind(k)) {
			return 0, nil, invalid("unknown kind %q: want some of conversations, logs, metrics", k)
		}
		req.OlderThan[retention.Kind(k)] = age
	}
	if len(req.OlderThan) == 0 {
		for _, k := range retention.Kinds {
			req.OlderThan[k] = age
		}
	}
	rep, err := s.cfg.Cleanup.Clean(r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rep, nil
}
