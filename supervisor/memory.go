package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/units"
)

// ErrNoMemory is returned when a namespace cannot be woken or created
// without going over the memory budget, even after reclaiming.
var ErrNoMemory = errors.New("not enough memory")

// Activity tells when a namespace last saw traffic and how many
// connections it has open (the router's idle tracker, reaper.Activity).
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

// usedLocked sums the memory this node's namespaces other than except and
// the warm pool hold or are promised: a namespace counts while its status
// says its gateway is up (a victim on its way down included) or while it
// holds a reservation. A victim's memory is promised to the namespace that
// stopped it, which counts it through its own reservation, so it is not
// counted twice. s.mu must be held.
func (s *Supervisor) usedLocked(except string) int64 {
	var total int64
	promised := map[string]bool{}
	for waiter, vs := range s.victims {
		if waiter == except {
			continue
		}
		for _, v := range vs {
			promised[v] = true
		}
	}
	for name, ns := range s.known {
		if name == except || (ns.Spec.Node != "" && ns.Spec.Node != s.cfg.Node) {
			continue
		}
		_, reserved := s.reserved[name]
		switch {
		case (holdsMemory(ns.Status.Phase) && !promised[name]) || reserved:
			total += s.need(ns.Spec)
		case ns.Status.Phase == namespace.PhaseCompressed && !promised[name]:
			total += charge(ns.Status)
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
	if s.cfg.MemoryBudget <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usedLocked("")+n <= s.cfg.MemoryBudget
}

// reserve checks that namespace ns's gateway fits in the memory budget and
// reserves its memory in the same critical section, so concurrent wakes and
// creates never overcommit it. When it does not fit, memory is freed in the
// order that costs tenants least: warm-pool spares, then the least recently
// used Paused namespaces, then idle Running ones, each stopped; victims are
// only chosen when they free enough. reserve never waits for a victim to go
// down: it returns waiting, and each victim's change of status re-queues ns
// (see released). Calling it again is how a waiter learns its victims are
// down.
func (s *Supervisor) reserve(ctx context.Context, ns namespace.Namespace) (waiting []string, err error) {
	budget := s.cfg.MemoryBudget
	if budget <= 0 {
		return nil, nil
	}
	name, need := ns.Spec.Name, s.need(ns.Spec)
	if need > budget {
		return nil, fmt.Errorf("namespace %s needs %s, more than the whole memory budget of %s: %w", name, units.FormatBytes(need), units.FormatBytes(budget), ErrNoMemory)
	}
	s.mu.Lock()
	ok, waiting := s.reserveLocked(name, need)
	short := s.usedLocked(name) + need - budget
	s.mu.Unlock()
	if ok {
		return waiting, nil
	}
	// Spares go first; removing them is a runtime call, made without the lock.
	if sh := s.shedder(); sh != nil && sh.SpareMemory() > 0 && sh.Alive() > 0 {
		n := int((short + sh.SpareMemory() - 1) / sh.SpareMemory())
		if shed := sh.Shed(ctx, n); shed > 0 {
			s.log.Info("memory budget: removed warm spares", "namespace", name, "spares", shed)
		}
	}
	s.mu.Lock()
	ok, waiting = s.reserveLocked(name, need)
	var victims []namespace.Namespace
	squeeze := false
	if !ok {
		// Squeezing Paused namespaces into zram costs their tenants least.
		if victims = s.squeezeVictimsLocked(name, need); victims != nil {
			squeeze = true
		} else {
			victims = s.victimsFor(name, need)
		}
		if victims != nil {
			s.reserved[name] = need
			for _, v := range victims {
				waiting = append(waiting, v.Spec.Name)
			}
			s.victims[name] = waiting
		}
	}
	free := budget - s.usedLocked(name)
	s.mu.Unlock()
	if ok {
		return waiting, nil
	}
	if victims == nil {
		return nil, fmt.Errorf("namespace %s needs %s but only %s of the %s budget is free and nothing idle is left to stop: %w",
			name, units.FormatBytes(need), units.FormatBytes(max(0, free)), units.FormatBytes(budget), ErrNoMemory)
	}
	for _, v := range victims {
		if squeeze && v.Status.Phase == namespace.PhasePaused && v.Spec.Target != namespace.PhaseStopped && v.Spec.Target != namespace.PhaseEvicted {
			if v.Spec.Target == namespace.PhaseCompressed {
				continue // being squeezed already
			}
			s.log.Info("memory budget: squeezing a least recently used paused namespace into zram", "namespace", name, "victim", v.Spec.Name)
			if err := s.Sleep(ctx, v.Spec.Name, namespace.PhaseCompressed); err != nil {
				s.log.Warn("squeezing victim failed", "namespace", name, "victim", v.Spec.Name, "error", err)
			}
			continue
		}
		if v.Spec.Target == namespace.PhaseStopped || v.Spec.Target == namespace.PhaseEvicted {
			s.log.Debug("memory budget: waiting for a namespace already going down", "namespace", name, "victim", v.Spec.Name)
			continue
		}
		s.log.Info("memory budget: stopping a least recently used namespace", "namespace", name, "victim", v.Spec.Name, "phase", v.Status.Phase)
		if err := s.Sleep(ctx, v.Spec.Name, namespace.PhaseStopped); err != nil {
			// The next reserve sees the victim is not going down and
			// chooses again.
			s.log.Warn("stopping victim failed", "namespace", name, "victim", v.Spec.Name, "error", err)
		}
	}
	return waiting, nil
}

// reserveLocked is reserve's check and reservation, in one critical
// section. ok is true when name's memory is reserved (or its gateway holds
// it already); waiting lists victims still on their way down for it. A
// victim woken meanwhile frees nothing: the reservation is dropped and the
// check made afresh. s.mu must be held.
func (s *Supervisor) reserveLocked(name string, need int64) (ok bool, waiting []string) {
	if _, held := s.reserved[name]; held {
		for _, v := range s.victims[name] {
			vns, known := s.known[v]
			if !known || (!holdsMemory(vns.Status.Phase) && (vns.Status.Phase != namespace.PhaseCompressed || vns.Spec.Target == namespace.PhaseCompressed)) {
				continue
			}
			if (vns.Spec.Target != namespace.PhaseStopped && vns.Spec.Target != namespace.PhaseEvicted &&
				vns.Spec.Target != namespace.PhaseCompressed) || squeezeFailed(vns) {
				s.releaseLocked(name)
				return s.reserveLocked(name, need)
			}
			waiting = append(waiting, v)
		}
		if len(waiting) == 0 {
			delete(s.victims, name)
		} else {
			s.victims[name] = waiting
		}
		return true, waiting
	}
	if ns, known := s.known[name]; known && holdsMemory(ns.Status.Phase) {
		return true, nil
	}
	if s.usedLocked(name)+need <= s.cfg.MemoryBudget {
		s.reserved[name] = need
		return true, nil
	}
	return false, nil
}

// victimsFor chooses the fewest least recently used namespaces whose
// memory makes room for need, or nil when all there are would not do:
// stopping them would cost their tenants and still not fit name. s.mu must
// be held.
func (s *Supervisor) victimsFor(name string, need int64) []namespace.Namespace {
	short := s.usedLocked(name) + need - s.cfg.MemoryBudget
	var out []namespace.Namespace
	// Namespaces already on their way down (the reaper's or an operator's
	// sleep) cost no tenant anything more: wait for them first.
	for _, v := range append(s.goingDownLocked(name), s.lruVictimsLocked(name)...) {
		if short <= 0 {
			break
		}
		out = append(out, v)
		if v.Status.Phase == namespace.PhaseCompressed {
			short -= charge(v.Status)
		} else {
			short -= s.need(v.Spec)
		}
	}
	if short > 0 {
		return nil
	}
	return out
}

// goingDownLocked lists namespaces whose gateway still holds memory while
// they are asked to stop or be evicted, and that no other namespace waits
// for, by name. s.mu must be held.
func (s *Supervisor) goingDownLocked(except string) []namespace.Namespace {
	claimed := s.claimedLocked()
	var out []namespace.Namespace
	for name, ns := range s.known {
		if name == except || claimed[name] || (ns.Spec.Node != "" && ns.Spec.Node != s.cfg.Node) || !holdsMemory(ns.Status.Phase) {
			continue
		}
		if ns.Spec.Target == namespace.PhaseStopped || ns.Spec.Target == namespace.PhaseEvicted {
			out = append(out, ns)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Name < out[j].Spec.Name })
	return out
}

// claimedLocked is the set of namespaces some waiter is stopping for its
// memory. s.mu must be held.
func (s *Supervisor) claimedLocked() map[string]bool {
	claimed := map[string]bool{}
	for _, vs := range s.victims {
		for _, v := range vs {
			claimed[v] = true
		}
	}
	return claimed
}

// releaseLocked drops name's reservation: its gateway now holds the memory
// (its status says so) or it gave up. s.mu must be held.
func (s *Supervisor) releaseLocked(name string) {
	delete(s.reserved, name)
	delete(s.victims, name)
}

// released is told that namespace name's status changed to phase (or that
// it is gone): a reservation ends once the gateway holds its memory or the
// namespace gives up, and the namespaces waiting for name to go down are
// queued again at once instead of polling for it.
func (s *Supervisor) released(name string, phase namespace.Phase, gone bool) {
	if holdsMemory(phase) && !gone {
		s.mu.Lock()
		s.releaseLocked(name)
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	if gone || phase == namespace.PhaseFailed || phase == namespace.PhaseStopped ||
		phase == namespace.PhaseEvicted || phase == namespace.PhaseDeleting {
		s.releaseLocked(name)
	}
	var waiters []string
	for w, vs := range s.victims {
		if slices.Contains(vs, name) {
			waiters = append(waiters, w)
		}
	}
	s.mu.Unlock()
	for _, w := range waiters {
		s.q.add(w)
	}
}

// admit reserves memory for ns's gateway before it is created or started.
// It is false when the gateway must wait, with the namespace Pending and
// queued again: victims' status changes queue it as soon as they are down,
// and a timer backs that up because events can be lost.
func (s *Supervisor) admit(ctx context.Context, ns namespace.Namespace, restarts int, log hclog.Logger) bool {
	name := ns.Spec.Name
	waiting, err := s.reserve(ctx, ns)
	switch {
	case err != nil:
		log.Warn("no memory for the gateway; will retry", "error", err)
		s.setStatus(ctx, name, namespace.Status{Phase: namespace.PhasePending, Restarts: restarts, Reason: err.Error()})
		s.q.addAfter(name, 5*time.Second)
		return false
	case len(waiting) > 0:
		log.Debug("waiting for memory", "victims", waiting)
		s.setStatus(ctx, name, namespace.Status{Phase: namespace.PhasePending, Restarts: restarts,
			Reason: "waiting for memory: stopping idle namespace(s) " + strings.Join(waiting, ", ")})
		s.q.addAfter(name, 5*time.Second)
		return false
	}
	return true
}

// lruVictimsLocked lists namespaces that may be stopped to free memory:
// Paused and Compressed first, then idle Running, each least recently used first. Never
// chosen: namespaces with minInstances, open connections, a wake in flight,
// already on their way down, or promised to another waiter. s.mu must be
// held.
func (s *Supervisor) lruVictimsLocked(except string) []namespace.Namespace {
	type cand struct {
		ns   namespace.Namespace
		tier int
		last time.Time
	}
	claimed := s.claimedLocked()
	var cs []cand
	for name, ns := range s.known {
		if name == except || (ns.Spec.Node != "" && ns.Spec.Node != s.cfg.Node) ||
			ns.Spec.MinInstances >= 1 || ns.Spec.Deleting || ns.Spec.Target == namespace.PhaseStopped ||
			ns.Spec.Target == namespace.PhaseEvicted || claimed[name] || s.waking[name] > 0 {
			continue
		}
		if _, ok := s.reserved[name]; ok {
			continue
		}
		last, active := time.Time{}, int64(0)
		if s.cfg.Activity != nil {
			last, active = s.cfg.Activity.Last(name)
		}
		if active > 0 {
			continue
		}
		if last.IsZero() {
			last = ns.Status.Since
		}
		switch ns.Status.Phase {
		case namespace.PhasePaused, namespace.PhaseCompressed:
			cs = append(cs, cand{ns, 0, last})
		case namespace.PhaseRunning:
			cs = append(cs, cand{ns, 1, last})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].tier != cs[j].tier {
			return cs[i].tier < cs[j].tier
		}
		if !cs[i].last.Equal(cs[j].last) {
			return cs[i].last.Before(cs[j].last)
		}
		return cs[i].ns.Spec.Name < cs[j].ns.Spec.Name
	})
	out := make([]namespace.Namespace, len(cs))
	for i, c := range cs {
		out[i] = c.ns
	}
	return out
}
