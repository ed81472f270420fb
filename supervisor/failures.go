package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/units"
)

func (s *Supervisor) countFailure(t *track, inst runtime.Instance, reason string) {
	t.failures++
	t.lastReason = reason
	t.lastStarted = inst.StartedAt
	t.nextStart = time.Now().Add(s.backoff(t.failures))
}

// retry records a failed runtime call and tries again after the backoff.
func (s *Supervisor) retry(ctx context.Context, ns namespace.Namespace, t *track, reason string, log hclog.Logger) {
	t.failures++
	t.lastReason = reason
	log.Warn("reconcile failed", "reason", reason, "failures", t.failures)
	st := namespace.Status{Phase: namespace.PhasePending, Restarts: t.failures, Reason: reason}
	if t.failures >= s.cfg.MaxRestarts {
		st.Phase = namespace.PhaseFailed
		s.setStatus(ctx, ns.Spec.Name, st)
		return
	}
	s.setStatus(ctx, ns.Spec.Name, st)
	s.q.addAfter(ns.Spec.Name, s.backoff(t.failures))
}

func (s *Supervisor) backoff(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := s.cfg.BackoffBase << min(failures-1, 16)
	return min(d, s.cfg.BackoffMax)
}

func exitReason(inst runtime.Instance, spec namespace.Spec) string {
	if inst.OOMKilled {
		if spec.MemoryBytes > 0 {
			return fmt.Sprintf("OOM killed: the gateway used its whole memory limit (%s)", units.FormatBytes(spec.MemoryBytes))
		}
		return "OOM killed"
	}
	r := fmt.Sprintf("exited with code %d", inst.ExitCode)
	if inst.Error != "" {
		r += ": " + inst.Error
	}
	return r
}
