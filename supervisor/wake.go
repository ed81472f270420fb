package supervisor

import (
	"context"
	"errors"
	"fmt"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// ErrFailed is returned (as a *FailedError) by Wake for a namespace whose
// gateway keeps failing; clawd retries it with a growing backoff and an
// operator's `namespace wake` retries it at once.
var ErrFailed = errors.New("gateway failed")

// Wake brings a namespace to Running and returns the address of its ready
// gateway. Concurrent wakes of one namespace share one attempt.
func (s *Supervisor) Wake(ctx context.Context, name string) (string, error) {
	ch := s.wakes.DoChan(name, func() (any, error) {
		// Detached from any one caller: a caller giving up must not cancel
		// the wake the others wait on.
		wctx, cancel := context.WithTimeout(context.Background(), s.cfg.StartTimeout)
		defer cancel()
		return s.wake(wctx, name)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (s *Supervisor) wake(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	ns, ok := s.known[name]
	// From here until the wake ends the namespace is never a victim: that
	// would stop what a tenant waits for.
	s.waking[name]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.waking[name]--; s.waking[name] <= 0 {
			delete(s.waking, name)
		}
		s.mu.Unlock()
	}()
	switch {
	case !ok:
		return "", fmt.Errorf("namespace %s: %w", name, store.ErrNotFound)
	case ns.Spec.Deleting:
		return "", fmt.Errorf("namespace %s is being deleted", name)
	case ns.Spec.Suspended != nil:
		return "", fmt.Errorf("namespace %s is suspended: %s", name, ns.Spec.Suspended.Reason)
	case ns.Status.Phase == namespace.PhaseFailed && ns.Status.WakeGeneration == ns.Spec.WakeGeneration:
		// Answered at once, never held: clawd retries on its own schedule.
		return "", failedError(ns)
	case ns.Spec.Target == "" && ns.Status.Phase == namespace.PhaseRunning && ns.Status.Address != "":
		return ns.Status.Address, nil
	}
	if !holdsMemory(ns.Status.Phase) {
		// Reserved here so a wake that cannot fit fails at once; victims
		// chosen for it go down while the reconcile loop waits for them,
		// queued again by their status changes.
		if _, err := s.reserve(ctx, ns); err != nil {
			return "", err
		}
	}
	s.mu.Lock()
	ch, ok := s.running[name]
	if !ok {
		ch = make(chan struct{})
		s.running[name] = ch
	}
	s.mu.Unlock()
	if ns.Spec.Target != "" {
		spec, err := s.st.UpdateSpec(ctx, name, func(sp *namespace.Spec) error {
			sp.Target = ""
			return nil
		})
		if err != nil {
			s.mu.Lock()
			s.releaseLocked(name)
			s.mu.Unlock()
			return "", fmt.Errorf("waking namespace %s: %w", name, err)
		}
		s.noteSpec(spec)
	}
	s.q.add(name)
	select {
	case <-ch:
	case <-ctx.Done():
		return "", fmt.Errorf("namespace %s did not become ready in time: %w", name, ctx.Err())
	}
	s.mu.Lock()
	ns = s.known[name]
	s.mu.Unlock()
	if ns.Status.Phase == namespace.PhaseFailed {
		return "", failedError(ns)
	}
	return ns.Status.Address, nil
}

// noteSpec records a spec this supervisor just wrote, so the next pass acts
// on it without waiting for the store watch to echo it back.
func (s *Supervisor) noteSpec(spec namespace.Spec) {
	s.mu.Lock()
	if ns, ok := s.known[spec.Name]; ok {
		ns.Spec = spec
		s.known[spec.Name] = ns
	}
	s.mu.Unlock()
	s.q.add(spec.Name)
}
