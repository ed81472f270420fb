package supervisor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

func (s *Supervisor) get(name string) (namespace.Namespace, *track, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.known[name]
	if !ok {
		return ns, nil, false
	}
	t := s.tracks[name]
	if t == nil {
		// After a restart of clawd, carry the crash count over from the store.
		reason := ns.Status.Reason
		if i := strings.Index(reason, " (failed "); ns.Status.Phase == namespace.PhaseFailed && i >= 0 {
			reason = reason[:i]
		}
		t = &track{failures: ns.Status.Restarts, lastReason: reason, logTail: ns.Status.LogTail, nextStart: ns.Status.NextTry}
		s.tracks[name] = t
	}
	return ns, t, true
}

func (s *Supervisor) setStatus(ctx context.Context, name string, st namespace.Status) {
	s.mu.Lock()
	cur := s.known[name]
	s.mu.Unlock()
	old := cur.Status
	st.Node = s.cfg.Node
	st.WakeGeneration = cur.Spec.WakeGeneration
	if old.Phase == st.Phase && old.Reason == st.Reason && old.ContainerID == st.ContainerID &&
		old.Address == st.Address && old.Restarts == st.Restarts && old.Node == st.Node &&
		old.WakeGeneration == st.WakeGeneration && old.NextTry.Equal(st.NextTry) && slices.Equal(old.LogTail, st.LogTail) {
		if st.Phase == namespace.PhaseRunning {
			// A wake that cancelled a sleep before it happened.
			s.runs(name)
		}
		s.released(name, st.Phase, false)
		return
	}
	st.Since = old.Since
	if old.Phase != st.Phase || st.Since.IsZero() {
		st.Since = time.Now().UTC()
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.st.PutStatus(cctx, name, st); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("writing status failed", "namespace", name, "error", err)
		}
		return
	}
	// Known before the waiters are released: they read the address here.
	s.mu.Lock()
	if ns, ok := s.known[name]; ok {
		ns.Status = st
		s.known[name] = ns
	}
	s.mu.Unlock()
	s.released(name, st.Phase, false)
	switch st.Phase {
	case namespace.PhaseRunning:
		s.runs(name)
	case namespace.PhaseFailed:
		// Wakes waiting for it get the reason now, not at their timeout.
		s.releaseWakes(name)
	}
	if old.Phase != st.Phase {
		s.log.Info("phase changed", "namespace", name, "from", old.Phase, "to", st.Phase, "reason", st.Reason)
	}
}

// runs opens the router's gate to a namespace that runs and releases the
// wakes waiting for it.
func (s *Supervisor) runs(name string) {
	if s.cfg.Gate != nil {
		s.cfg.Gate.Open(name)
	}
	s.releaseWakes(name)
}

// releaseWakes lets the wakes waiting for name read its status.
func (s *Supervisor) releaseWakes(name string) {
	s.mu.Lock()
	if ch, ok := s.running[name]; ok {
		close(ch)
		delete(s.running, name)
	}
	s.mu.Unlock()
}
