package reaper

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

// Lister lists every namespace of the cluster (all nodes), from the store.
type Lister interface {
	ListNamespaces(ctx context.Context) ([]namespace.Namespace, error)
}

// Owners tells which objects that carry no namespace's name are still
// owned (warm pool members); optional.
type Owners interface {
	Owns(o runtime.Object) bool
}

// Leaks removes containers and networks of this cluster that no namespace
// owns, after a grace period. Volumes are only reported: a namespace deleted
// without --purge leaves its volumes on purpose.
type Leaks struct {
	objs   runtime.Objects
	list   Lister
	owners Owners
	grace  time.Duration
	dryRun bool
	log    hclog.Logger

	firstSeen map[string]time.Time // object id → first seen orphaned
	reported  map[string]bool
}

// NewLeaks makes the leak reaper. owners may be nil.
func NewLeaks(objs runtime.Objects, list Lister, owners Owners, grace time.Duration, dryRun bool, log hclog.Logger) *Leaks {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Leaks{objs: objs, list: list, owners: owners, grace: grace, dryRun: dryRun, log: log,
		firstSeen: map[string]time.Time{}, reported: map[string]bool{}}
}

// Run passes every interval until ctx ends.
func (l *Leaks) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if err := l.Pass(ctx, now); err != nil {
				l.log.Warn("leak pass failed", "error", err)
			}
		}
	}
}

// Pass makes one pass: it lists objects before namespaces, so an object
// created for a namespace that is new since the listing cannot look orphaned.
func (l *Leaks) Pass(ctx context.Context, now time.Time) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	objs, err := l.objs.Objects(cctx)
	if err != nil {
		return err
	}
	nss, err := l.list.ListNamespaces(cctx)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	volumes := map[string]bool{} // recorded in specs: an adopted spare's
	for _, ns := range nss {
		known[ns.Spec.Name] = true
		volumes[ns.Spec.DataVolume], volumes[ns.Spec.SkillsVolume] = true, true
	}
	orphaned := map[string]bool{}
	for _, o := range objs {
		if known[o.Namespace] || (o.Kind == "volume" && volumes[o.Name]) || (l.owners != nil && l.owners.Owns(o)) {
			continue
		}
		orphaned[o.ID] = true
		if o.Kind == "volume" {
			if !l.reported[o.ID] {
				l.log.Info("volume of a deleted namespace kept (remove it with 'docker volume rm' or delete with --purge next time)", "volume", o.Name, "namespace", o.Namespace)
				l.reported[o.ID] = true
			}
			continue
		}
		first, ok := l.firstSeen[o.ID]
		if !ok {
			l.firstSeen[o.ID] = now
			first = now
		}
		if now.Sub(first) < l.grace || now.Sub(o.Created) < l.grace {
			continue
		}
		if l.dryRun {
			l.log.Info("would remove orphaned object (dry run)", "kind", o.Kind, "name", o.Name, "namespace", o.Namespace, "orphaned_for", now.Sub(first).Round(time.Second))
			continue
		}
		if err := l.objs.RemoveObject(cctx, o); err != nil {
			l.log.Warn("removing orphaned object failed", "kind", o.Kind, "name", o.Name, "error", err)
			continue
		}
		l.log.Info("removed orphaned object", "kind", o.Kind, "name", o.Name, "namespace", o.Namespace, "orphaned_for", now.Sub(first).Round(time.Second))
		delete(l.firstSeen, o.ID)
	}
	for id := range l.firstSeen {
		if !orphaned[id] {
			delete(l.firstSeen, id)
		}
	}
	return nil
}
