package supervisor

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/units"
)

// Metrics counts what the supervisor sees happen to gateways
// (metrics.Supervisor).
type Metrics interface {
	// OOMKilled counts one kill of namespace ns's gateway by the kernel's
	// out-of-memory killer.
	OOMKilled(ns string)
}

// FailedError is Wake's error for a namespace whose gateway keeps failing.
// clawd keeps trying on its own; `namespace wake` tries at once.
type FailedError struct {
	Namespace string
	// Reason is why the last start failed, in words a tenant may read
	// (no log lines).
	Reason string
	// NextTry is when clawd tries again (zero: unknown).
	NextTry time.Time
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("namespace %s: %s: %s", e.Namespace, ErrFailed, e.Reason)
}

// Unwrap makes errors.Is(err, ErrFailed) hold.
func (e *FailedError) Unwrap() error { return ErrFailed }

// TenantReason is why the gateway cannot start, for the tenant.
func (e *FailedError) TenantReason() string { return e.Reason }

// RetryAt is when clawd tries again.
func (e *FailedError) RetryAt() time.Time { return e.NextTry }

// engineGrace is how long before the runtime's event stream broke a
// gateway's exit is still blamed on the engine: a stopping engine stops
// its containers first (their own stop timeout, 10 s by default), then
// closes the stream.
const engineGrace = 30 * time.Second

// logTailLines is how many of a crashed gateway's last log lines its
// status keeps.
const logTailLines = 10

// stable reports whether t's gateway had been ready for the stable period
// when it went down at end: then its crash is no part of a loop.
func (s *Supervisor) stable(t *track, end time.Time) bool {
	if end.IsZero() {
		end = time.Now()
	}
	return !t.readySince.IsZero() && end.Sub(t.readySince) >= s.cfg.StablePeriod
}

// countFailure records a crash or a failed start. Crashes count as a loop
// only when they come close together: a gateway that had been ready for
// the stable period before it went down starts its count afresh.
func (s *Supervisor) countFailure(t *track, inst runtime.Instance, reason string, tail []string) {
	if s.stable(t, inst.FinishedAt) {
		t.failures = 0
	}
	t.failures++
	t.lastReason, t.logTail = reason, tail
	t.lastStarted, t.lastExit = inst.StartedAt, inst.FinishedAt
	t.nextStart = time.Now().Add(s.backoff(t.failures))
}

// retry records a failed runtime call and tries again after the backoff;
// past MaxRestarts the namespace is Failed, still tried again.
func (s *Supervisor) retry(ctx context.Context, ns namespace.Namespace, t *track, reason string, log hclog.Logger) {
	t.failures++
	t.lastReason, t.logTail = reason, nil
	wait := s.backoff(t.failures)
	t.nextStart = time.Now().Add(wait)
	log.Warn("reconcile failed", "reason", reason, "failures", t.failures, "next_try_in", wait)
	st := namespace.Status{Phase: namespace.PhasePending, Restarts: t.failures, Reason: reason}
	if t.failures >= s.cfg.MaxRestarts {
		st = s.failedStatus(ns.Spec.Name, t, st)
	}
	s.setStatus(ctx, ns.Spec.Name, st)
	s.q.addAfter(ns.Spec.Name, wait)
}

// failedStatus is st as Failed: the reason, how often, and when clawd
// tries next.
func (s *Supervisor) failedStatus(name string, t *track, st namespace.Status) namespace.Status {
	st.Phase = namespace.PhaseFailed
	st.NextTry = t.nextStart.UTC().Truncate(time.Second)
	st.Reason = fmt.Sprintf("%s (failed %d times in a row; clawd tries again at %s, 'clawd namespace wake %s' tries now)",
		t.lastReason, t.failures, st.NextTry.Format(time.TimeOnly+" MST"), name)
	st.LogTail = t.logTail
	return st
}

// backoff is how long to wait before the next start after failures in a
// row: doubling from BackoffBase up to BackoffMax while the namespace is
// still starting, then, once it is Failed, doubling on from BackoffMax up
// to FailedBackoffMax. clawd never gives up for good.
func (s *Supervisor) backoff(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	if failures < s.cfg.MaxRestarts {
		return min(s.cfg.BackoffBase<<min(failures-1, 16), s.cfg.BackoffMax)
	}
	return min(s.cfg.BackoffMax<<min(failures-s.cfg.MaxRestarts, 16), max(s.cfg.FailedBackoffMax, s.cfg.BackoffMax))
}

// exitReason says in words why a gateway exited, and returns the last
// lines of its log (secrets redacted) when it was not the kernel's doing.
func (s *Supervisor) exitReason(ctx context.Context, inst runtime.Instance, spec namespace.Spec, t *track, log hclog.Logger) (string, []string) {
	if inst.OOMKilled {
		day := time.Now().Add(-24 * time.Hour)
		kept := t.ooms[:0]
		for _, at := range t.ooms {
			if at.After(day) {
				kept = append(kept, at)
			}
		}
		t.ooms = append(kept, time.Now())
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.OOMKilled(spec.Name)
		}
		limit := "no memory limit set"
		if spec.MemoryBytes > 0 {
			limit = "limit " + units.FormatBytes(spec.MemoryBytes)
		}
		// "Today" is the last 24 hours, as this clawd process saw them.
		return fmt.Sprintf("killed by the kernel: out of memory (%s, %s time today)", limit, ordinal(len(t.ooms))), nil
	}
	reason := fmt.Sprintf("exited with code %d", inst.ExitCode)
	if inst.Error != "" {
		reason += ": " + inst.Error
	}
	lt, ok := s.rt.(runtime.LogTailer)
	if !ok {
		return reason, nil
	}
	lines, err := lt.TailLogs(ctx, spec.Name, logTailLines)
	if err != nil {
		log.Debug("reading the crashed gateway's log failed", "error", err)
		return reason, nil
	}
	lines = redactLines(lines)
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			reason += "; last log line: " + l
			break
		}
	}
	return reason, lines
}

// byEngine reports whether an exit at finished came from the runtime's
// engine going down (a restart of Docker or of the host) rather than from
// the gateway: it fell shortly before the event stream broke, or while it
// was down. Such exits are not the gateway's failures.
func (s *Supervisor) byEngine(finished time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.engineLost.IsZero() || finished.IsZero() || finished.Before(s.engineLost.Add(-engineGrace)) {
		return false
	}
	return s.engineUp.Before(s.engineLost) || finished.Before(s.engineUp)
}

// engineDown is told that the runtime's event stream broke at lost.
func (s *Supervisor) engineDown(lost time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.engineLost.IsZero() || !s.engineUp.Before(s.engineLost) {
		s.engineLost = lost
	}
}

// forgiveEngineExit takes back the failure t counted for an exit shortly
// before the event stream broke: the engine was going down, and its die
// event can come, and be counted, before the stream ends. Only the worker
// that owns t calls it.
func (s *Supervisor) forgiveEngineExit(t *track, log hclog.Logger) {
	s.mu.Lock()
	lost := s.engineLost
	s.mu.Unlock()
	if lost.IsZero() || t.failures == 0 || t.lastExit.IsZero() || t.lastExit.Before(lost.Add(-engineGrace)) || t.lastExit.After(lost) {
		return
	}
	log.Info("gateway stopped with the container engine; not counted as its failure")
	t.failures--
	t.lastExit, t.nextStart = time.Time{}, time.Time{}
	if t.failures == 0 {
		t.lastReason, t.logTail = "", nil
	}
}

// engineSeen is told the engine answered: exits after this are the
// gateways' own again.
func (s *Supervisor) engineSeen() {
	s.mu.Lock()
	if !s.engineLost.IsZero() && s.engineUp.Before(s.engineLost) {
		s.engineUp = time.Now()
	}
	s.mu.Unlock()
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// Secrets a gateway may log: credentials in URLs, bearer tokens, provider
// keys, key=value pairs whose name says secret, and long opaque strings.
var secretPatterns = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`://[^/\s:@]+:[^/\s@]+@`), "://[redacted]@"},
	{regexp.MustCompile(`(?i)((?:token|secret|password|passwd|pwd|api[_-]?key|apikey|authorization|cookie|credential)s?["']?\s*[:=]\s*["']?)(?:(?:bearer|basic)\s+)?[^\s"',;&]+`), "${1}[redacted]"},
	{regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+`), "$1 [redacted]"},
	{regexp.MustCompile(`\b(?:sk|pk|rk|xox[abp])-[A-Za-z0-9_-]{8,}`), "[redacted]"},
	{regexp.MustCompile(`[A-Za-z0-9+/_-]{32,}={0,2}`), "[redacted]"},
}

// maxLogLine caps each log line a status keeps.
const maxLogLine = 300

// redactLines masks what looks like a secret in each line and shortens
// long lines.
func redactLines(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		for _, p := range secretPatterns {
			l = p.re.ReplaceAllString(l, p.with)
		}
		if len(l) > maxLogLine {
			l = l[:maxLogLine] + "…"
		}
		out = append(out, l)
	}
	return out
}

// failedError is Wake's error for a Failed namespace: the cause from its
// status, without the operator's part (log lines, how to retry).
func failedError(ns namespace.Namespace) error {
	reason := ns.Status.Reason
	for _, cut := range []string{"; last log line:", " (failed "} {
		if i := strings.Index(reason, cut); i >= 0 {
			reason = reason[:i]
		}
	}
	return &FailedError{Namespace: ns.Spec.Name, Reason: reason, NextTry: ns.Status.NextTry}
}

var _ error = (*FailedError)(nil)
