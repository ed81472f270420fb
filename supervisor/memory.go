package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/units"
)

// ErrNoMemory is returned when a namespace cannot be woken or created
// without going over the memory budget, even after reclaiming.
var ErrNoMemory = errors.New("not enough memory")

// Activity tells when a namespace last saw traffic and how many
// connections it has open (the router's idle tracker).
type Activity interface {
	Last(ns string) (time.Time, int64)
}

// Shedder is a warm pool that can give memory back.
type Shedder interface {
	// Shed removes up to n ready spares and returns how many it removed.
	Shed(ctx context.Context, n int) int
	// SpareMemory is the memory cap of one spare, and Alive how many exist.
	SpareMemory() int64
	Alive() int
}

// need is the memory a namespace's gateway may hold: its cap, else the
// configured estimate for an uncapped gateway.
func (s *Supervisor) need(spec namespace.Spec) int64 {
	if spec.MemoryBytes > 0 {
		return spec.MemoryBytes
	}
	return s.cfg.MemoryEstimate
}

// holdsMemory reports whether a namespace in this phase has a live
// container (a paused one keeps its memory).
func holdsMemory(p namespace.Phase) bool {
	switch p {
	case namespace.PhaseRunning, namespace.PhaseStarting, namespace.PhasePaused:
		return true
	}
	return false
}

// used sums the memory held by this node's namespaces other than except,
// and by the warm pool.
func (s *Supervisor) used(except string) int64 {
	var total int64
	for _, ns := range s.Snapshot() {
		if ns.Spec.Name != except && holdsMemory(ns.Status.Phase) && ns.Spec.Target != namespace.PhaseStopped && ns.Spec.Target != namespace.PhaseEvicted {
			total += s.need(ns.Spec)
		}
	}
	if sh := s.shedder(); sh != nil {
		total += int64(sh.Alive()) * sh.SpareMemory()
	}
	return total
}

func (s *Supervisor) shedder() Shedder {
	if sh, ok := s.cfg.Pool.(Shedder); ok && s.cfg.Pool != nil {
		return sh
	}
	return nil
}

// Fits reports whether n more bytes fit in the budget right now; the warm
// pool asks before it starts a spare.
func (s *Supervisor) Fits(n int64) bool {
	return s.cfg.MemoryBudget <= 0 || s.used("")+n <= s.cfg.MemoryBudget
}

// makeRoom frees memory for namespace name before it is woken or created,
// in the order that costs tenants least: warm-pool spares, then the least
// recently used Paused namespaces, then idle Running ones, each stopped.
// It waits until the victims are down, so the budget is never overcommitted.
func (s *Supervisor) makeRoom(ctx context.Context, name string, spec namespace.Spec) error {
	budget := s.cfg.MemoryBudget
	if budget <= 0 {
		return nil
	}
	need := s.need(spec)
	short := func() int64 { return s.used(name) + need - budget }
	if need > budget {
		return fmt.Errorf("namespace %s needs %s, more than the whole memory budget of %s: %w", name, units.FormatBytes(need), units.FormatBytes(budget), ErrNoMemory)
	}
	if short() <= 0 {
		return nil
	}
	if sh := s.shedder(); sh != nil && sh.SpareMemory() > 0 {
		n := int((short() + sh.SpareMemory() - 1) / sh.SpareMemory())
		if shed := sh.Shed(ctx, n); shed > 0 {
			s.log.Info("memory budget: removed warm spares", "namespace", name, "spares", shed)
		}
		if short() <= 0 {
			return nil
		}
	}
	var victims []string
	for _, v := range s.lruVictims(name) {
		if short() <= 0 {
			break
		}
		s.log.Info("memory budget: stopping a least recently used namespace", "namespace", name, "victim", v.Spec.Name, "phase", v.Status.Phase)
		if err := s.Sleep(ctx, v.Spec.Name, namespace.PhaseStopped); err != nil {
			s.log.Warn("stopping victim failed", "victim", v.Spec.Name, "error", err)
			continue
		}
		victims = append(victims, v.Spec.Name)
	}
	if short() > 0 {
		return fmt.Errorf("namespace %s needs %s but only %s of the %s budget is free and nothing idle is left to stop: %w",
			name, units.FormatBytes(need), units.FormatBytes(max(0, need-short())), units.FormatBytes(budget), ErrNoMemory)
	}
	return s.waitDown(ctx, victims)
}

// lruVictims lists namespaces that may be stopped to free memory: Paused
// first, then idle Running, each least recently used first. Namespaces with
// minInstances, open connections or that are starting are never chosen.
func (s *Supervisor) lruVictims(except string) []namespace.Namespace {
	type cand struct {
		ns   namespace.Namespace
		tier int
		last time.Time
	}
	var cs []cand
	for _, ns := range s.Snapshot() {
		if ns.Spec.Name == except || ns.Spec.MinInstances >= 1 || ns.Spec.Deleting || ns.Spec.Target == namespace.PhaseStopped || ns.Spec.Target == namespace.PhaseEvicted {
			continue
		}
		last, active := time.Time{}, int64(0)
		if s.cfg.Activity != nil {
			last, active = s.cfg.Activity.Last(ns.Spec.Name)
		}
		if last.IsZero() {
			last = ns.Status.Since
		}
		switch {
		case ns.Status.Phase == namespace.PhasePaused:
			cs = append(cs, cand{ns, 0, last})
		case ns.Status.Phase == namespace.PhaseRunning && active == 0:
			cs = append(cs, cand{ns, 1, last})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].tier != cs[j].tier {
			return cs[i].tier < cs[j].tier
		}
		return cs[i].last.Before(cs[j].last)
	})
	out := make([]namespace.Namespace, len(cs))
	for i, c := range cs {
		out[i] = c.ns
	}
	return out
}

// waitDown waits until every victim has stopped.
func (s *Supervisor) waitDown(ctx context.Context, names []string) error {
	for _, n := range names {
		for {
			s.mu.Lock()
			ns, ok := s.known[n]
			s.mu.Unlock()
			if !ok || !holdsMemory(ns.Status.Phase) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for namespace %s to stop: %w", n, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}
