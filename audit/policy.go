package audit

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/clawd-dev/clawd/config"
)

// Policy applies namespaces.<ns>.audit.enabled and .events: which
// namespaces record which event types. The cluster-wide chain ("") always
// records. Until the first config arrives every event is recorded.
type Policy struct {
	values atomic.Pointer[map[string]string]
}

// Set replaces the config values the policy reads.
func (p *Policy) Set(values map[string]string) { p.values.Store(&values) }

// Watch applies every config map ch sends until ctx ends.
func (p *Policy) Watch(ctx context.Context, ch <-chan map[string]string) {
	for {
		select {
		case <-ctx.Done():
			return
		case v, ok := <-ch:
			if !ok {
				return
			}
			p.Set(v)
		}
	}
}

// Selects says whether ns records events of type typ; it is a Selects.
func (p *Policy) Selects(ns, typ string) bool {
	vp := p.values.Load()
	if ns == "" || vp == nil {
		return true
	}
	if v, _ := config.Effective(*vp, ns, "audit.enabled"); v == "false" {
		return false
	}
	events, _ := config.Effective(*vp, ns, "audit.events")
	if events == "" || events == "all" {
		return true
	}
	list := strings.Split(events, ",")
	return slices.Contains(list, "all") || slices.Contains(list, typ)
}

// Ships says whether ns's records also go to Elasticsearch
// (namespaces.<ns>.audit.backend elasticsearch).
func (p *Policy) Ships(ns string) bool {
	vp := p.values.Load()
	if vp == nil || ns == "" {
		return false
	}
	v, _ := config.Effective(*vp, ns, "audit.backend")
	return v == "elasticsearch"
}

// ElasticURL is audit.elasticsearch.url.
func (p *Policy) ElasticURL() string {
	vp := p.values.Load()
	if vp == nil {
		return ""
	}
	v, _ := config.Effective(*vp, "", "audit.elasticsearch.url")
	return v
}
