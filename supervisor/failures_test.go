package supervisor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

// kill ends ns's running gateway as the kernel or a tenant would: exit
// code 137, now, and a die event.
func (f *fakeRuntime) kill(t *testing.T, ns string, oom bool) {
	t.Helper()
	f.mu.Lock()
	c, ok := f.containers[ns]
	if !ok || c.State != runtime.StateRunning {
		f.mu.Unlock()
		t.Fatalf("kill %s: no running container", ns)
	}
	c.State, c.ExitCode, c.OOMKilled, c.FinishedAt = runtime.StateExited, 137, oom, time.Now()
	f.mu.Unlock()
	f.emit(ns, runtime.EventDie)
}

func TestBackoff(t *testing.T) {
	s := New(Config{BackoffBase: time.Second, BackoffMax: 30 * time.Second, FailedBackoffMax: 5 * time.Minute, MaxRestarts: 5}, nil, nil)
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second},
		// Failed from the fifth on: doubling on from BackoffMax to FailedBackoffMax.
		{5, 30 * time.Second}, {6, time.Minute}, {7, 2 * time.Minute}, {8, 4 * time.Minute},
		{9, 5 * time.Minute}, {100, 5 * time.Minute},
	} {
		if got := s.backoff(tc.failures); got != tc.want {
			t.Errorf("backoff(%d) = %s, want %s", tc.failures, got, tc.want)
		}
	}
}

// A Failed namespace is started again by itself once its backoff is over:
// clawd never gives up for good.
func TestFailedIsTriedAgainByItself(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	st := newFakeStore(log, spec("crashy"))
	rt.setBehaviour("crashy", exitsWith(1))
	cfg := testConfig()
	cfg.MaxRestarts = 2
	cfg.BackoffMax, cfg.FailedBackoffMax = 50*time.Millisecond, 100*time.Millisecond

	runSupervisor(t, cfg, rt, st)
	failed := waitPhase(t, st, "crashy", namespace.PhaseFailed)
	if failed.NextTry.IsZero() || !strings.Contains(failed.Reason, "exited with code 1") {
		t.Errorf("Failed status %+v, want the exit and a next try", failed)
	}
	waitFor(t, "a Failed namespace is tried again", func() bool {
		h := st.history("crashy")
		return len(h) > 0 && countPhase(h, namespace.PhaseFailed) >= 2
	})
	rt.setBehaviour("crashy", runsAt(readyGateway(t)))
	running := waitPhase(t, st, "crashy", namespace.PhaseRunning)
	if running.WakeGeneration != 0 {
		t.Errorf("woken (generation %d); want it running by itself", running.WakeGeneration)
	}
	if !running.NextTry.IsZero() {
		t.Errorf("a running namespace shows a next try %s", running.NextTry)
	}
}

func countPhase(h []namespace.Status, p namespace.Phase) int {
	n := 0
	for i, s := range h {
		// Count entries into p, not rewrites of it.
		if s.Phase == p && (i == 0 || h[i-1].Phase != p) {
			n++
		}
	}
	return n
}

// Crashes count as a loop only when they come close together: a gateway
// that stayed ready for the stable period starts its count afresh.
func TestStableUptimeForgetsFailures(t *testing.T) {
	for _, tc := range []struct {
		name       string
		stable     time.Duration
		wantFailed bool
	}{
		{"healthy gaps", 30 * time.Millisecond, false},
		{"close together", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &opLog{}
			rt := newFakeRuntime(log)
			st := newFakeStore(log, spec("alpha"))
			rt.setBehaviour("alpha", runsAt(readyGateway(t)))
			cfg := testConfig()
			cfg.MaxRestarts = 3
			cfg.BackoffMax = time.Hour // a Failed one stays Failed for the test
			cfg.StablePeriod = tc.stable

			runSupervisor(t, cfg, rt, st)
			waitPhase(t, st, "alpha", namespace.PhaseRunning)
			for i := 1; i <= 5; i++ {
				rt.kill(t, "alpha", false)
				if tc.wantFailed && i == cfg.MaxRestarts {
					waitPhase(t, st, "alpha", namespace.PhaseFailed)
					return
				}
				waitFor(t, "alpha runs again after the kill", func() bool {
					s, _ := st.last("alpha")
					return s.Phase == namespace.PhaseRunning && rt.count("start", "alpha") == i+1
				})
				if !tc.wantFailed {
					// Wait for the state, not a time: the stable period
					// has passed once the count is reset.
					waitFor(t, "the failure is forgotten after the stable period", func() bool {
						s, _ := st.last("alpha")
						return s.Phase == namespace.PhaseRunning && s.Restarts == 0
					})
				}
			}
			if tc.wantFailed {
				t.Fatalf("never Failed after %d close kills: %v", 5, phasesOf(st.history("alpha")))
			}
			for _, s := range st.history("alpha") {
				if s.Phase == namespace.PhaseFailed || s.Restarts > 1 {
					t.Fatalf("kills with healthy gaps counted as a loop: %v", phasesOf(st.history("alpha")))
				}
			}
		})
	}
}

// engineRuntime is a runtime whose engine can go down: its event stream
// breaks and every call fails until it is back.
type engineRuntime struct {
	*fakeRuntime
	mu   sync.Mutex
	down bool
	errs chan error
}

func (e *engineRuntime) setDown(down bool) {
	e.mu.Lock()
	e.down = down
	e.mu.Unlock()
	if down {
		e.errs <- errors.New("unexpected EOF")
	}
}

func (e *engineRuntime) Events(context.Context) (<-chan runtime.Event, <-chan error) {
	return e.fakeRuntime.events, e.errs
}

func (e *engineRuntime) Inspect(ctx context.Context, ns string) (runtime.Instance, error) {
	e.mu.Lock()
	down := e.down
	e.mu.Unlock()
	if down {
		return runtime.Instance{}, errors.New("cannot connect to the Docker daemon")
	}
	return e.fakeRuntime.Inspect(ctx, ns)
}

// A restart of the engine stops every gateway; that is no gateway's
// failure, whether the exit is seen before the event stream breaks or
// after the engine is back.
func TestEngineRestartIsNotTheGatewaysFailure(t *testing.T) {
	log := &opLog{}
	fake := newFakeRuntime(log)
	rt := &engineRuntime{fakeRuntime: fake, errs: make(chan error, 1)}
	fake.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	cfg := testConfig()
	cfg.MaxRestarts = 2
	cfg.BackoffMax = time.Hour

	s := New(cfg, rt, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitPhase(t, st, "alpha", namespace.PhaseRunning)

	// The stream breaks, then the engine stops the gateway and comes back.
	rt.setDown(true)
	fake.kill(t, "alpha", false)
	rt.setDown(false)
	waitFor(t, "alpha is started again", func() bool { return fake.count("start", "alpha") == 2 })
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	for _, h := range st.history("alpha") {
		if h.Restarts > 0 {
			t.Fatalf("an exit while the engine was down was counted: %v", phasesOf(st.history("alpha")))
		}
	}

	// The engine stops the gateway, clawd sees the exit, then the stream
	// breaks: the failure counted meanwhile is taken back.
	fake.kill(t, "alpha", false)
	waitFor(t, "the exit is counted", func() bool { s, _ := st.last("alpha"); return s.Restarts == 1 })
	rt.setDown(true)
	rt.setDown(false)
	waitFor(t, "the count is taken back", func() bool {
		s, _ := st.last("alpha")
		return s.Phase == namespace.PhaseRunning && s.Restarts == 0
	})
	for _, h := range st.history("alpha") {
		if h.Phase == namespace.PhaseFailed || h.Restarts > 1 {
			t.Fatalf("Failed after engine restarts: %v", phasesOf(st.history("alpha")))
		}
	}
}

// fakeMetrics counts OOM kills per namespace.
type fakeMetrics struct {
	mu   sync.Mutex
	ooms map[string]int
}

func (m *fakeMetrics) OOMKilled(ns string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ooms[ns]++
}

func (m *fakeMetrics) count(ns string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ooms[ns]
}

// An OOM kill is told in words, with the limit and how often it happened
// today, and counted on /metrics.
func TestOOMKillsAreToldAndCounted(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	ns := spec("hungry")
	ns.Spec.MemoryBytes = 64 << 20
	st := newFakeStore(log, ns)
	rt.setBehaviour("hungry", runsAt(readyGateway(t)))
	m := &fakeMetrics{ooms: map[string]int{}}
	cfg := testConfig()
	cfg.MaxRestarts = 10
	cfg.Metrics = m

	runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "hungry", namespace.PhaseRunning)
	for i, nth := range []string{"1st", "2nd", "3rd"} {
		rt.kill(t, "hungry", true)
		want := "killed by the kernel: out of memory (limit 64Mi, " + nth + " time today)"
		waitFor(t, "the reason "+want, func() bool {
			s, _ := st.last("hungry")
			return s.Reason == want && rt.count("start", "hungry") == i+2
		})
		waitPhase(t, st, "hungry", namespace.PhaseRunning)
	}
	if n := m.count("hungry"); n != 3 {
		t.Errorf("%d OOM kills counted, want 3", n)
	}
}

// tailRuntime has a gateway log to tail.
type tailRuntime struct {
	*fakeRuntime
	lines []string
}

func (r *tailRuntime) TailLogs(_ context.Context, ns string, n int) ([]string, error) {
	return r.lines[max(0, len(r.lines)-n):], nil
}

var _ runtime.LogTailer = (*tailRuntime)(nil)

// A crash that is not an OOM kill is told by its exit code and the
// gateway's last words, secrets masked; the operator gets the last lines.
func TestCrashReasonHasTheLastLogLine(t *testing.T) {
	log := &opLog{}
	fake := newFakeRuntime(log)
	rt := &tailRuntime{fakeRuntime: fake, lines: []string{
		"gateway starting",
		"using provider key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
		"Error: config invalid: token=hunter2hunter2 at models.providers",
		"",
	}}
	fake.setBehaviour("crashy", exitsWith(1))
	st := newFakeStore(log, spec("crashy"))
	cfg := testConfig()
	cfg.MaxRestarts = 2
	cfg.BackoffMax = time.Hour

	s := New(cfg, rt, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	failed := waitPhase(t, st, "crashy", namespace.PhaseFailed)
	if !strings.HasPrefix(failed.Reason, "exited with code 1; last log line: Error: config invalid: token=[redacted] at models.providers") {
		t.Errorf("reason %q, want the exit code and the last log line, redacted", failed.Reason)
	}
	all := strings.Join(failed.LogTail, "\n")
	if len(failed.LogTail) != 4 || strings.Contains(all, "hunter2") || strings.Contains(all, "abcdefghijklmnop") {
		t.Errorf("log tail %q, want the 4 lines with secrets masked", failed.LogTail)
	}

	// The tenant's wake is answered at once with the cause, no log lines.
	_, err := s.Wake(context.Background(), "crashy")
	var fe *FailedError
	if !errors.As(err, &fe) || !errors.Is(err, ErrFailed) {
		t.Fatalf("wake of a Failed namespace: %v, want a *FailedError", err)
	}
	if fe.Reason != "exited with code 1" || !fe.NextTry.Equal(failed.NextTry) {
		t.Errorf("wake error %+v, want the exit without log lines and the next try %s", fe, failed.NextTry)
	}
}

// A wake waiting while the gateway crash-loops gets the reason as soon as
// it is Failed, not at its own timeout.
func TestWakeWaitingForACrashLoopEndsWhenItFails(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	st := newFakeStore(log, spec("crashy"))
	cfg := testConfig()
	cfg.MaxRestarts = 3
	cfg.BackoffBase = 20 * time.Millisecond // time for the wake to start waiting
	cfg.BackoffMax = time.Hour
	cfg.StartTimeout = time.Hour // the wake's own timeout
	s := runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "crashy", namespace.PhaseStarting)
	rt.setBehaviour("crashy", exitsWith(1))
	rt.kill(t, "crashy", false)

	woken := make(chan error, 1)
	go func() { _, err := s.Wake(context.Background(), "crashy"); woken <- err }()
	select {
	case err := <-woken:
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("wake: %v, want ErrFailed", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the wake still waits for a crash-looping gateway (history %v)", phasesOf(st.history("crashy")))
	}
}

func TestRedactLines(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Authorization: Bearer eyJhbGciOi.abc.def", "Authorization: [redacted]"},
		{"calling https://user:pa55@example.com/v1", "calling https://[redacted]@example.com/v1"},
		{`{"apiKey":"sk-proj-0123456789abcdef"}`, `{"apiKey":"[redacted]"}`},
		{"password=s3cret more", "password=[redacted] more"},
		{"session 0123456789abcdef0123456789abcdef0123", "session [redacted]"},
		{"listening on 0.0.0.0:18789", "listening on 0.0.0.0:18789"},
	} {
		if got := redactLines([]string{tc.in})[0]; got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A gateway that stopped while clawd was down (a reboot stops the host's
// every gateway) is started again without counting a failure, and a
// Failed namespace's count is not raised again by the exit already counted.
func TestExitWhileClawdWasDownIsNotCounted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   namespace.Status
		want     namespace.Phase
		restarts int
	}{
		{"was running", namespace.Status{Phase: namespace.PhaseRunning}, namespace.PhaseRunning, 0},
		{"was failed", namespace.Status{Phase: namespace.PhaseFailed, Restarts: 2, Reason: "exited with code 1 (failed 2 times in a row; …)"}, namespace.PhaseRunning, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &opLog{}
			rt := newFakeRuntime(log)
			rt.setBehaviour("alpha", runsAt(readyGateway(t)))
			rt.containers["alpha"] = &runtime.Instance{Namespace: "alpha", ContainerID: "c1", State: runtime.StateExited, ExitCode: 143,
				StartedAt: time.Now().Add(-time.Hour), FinishedAt: time.Now().Add(-time.Minute)}
			ns := spec("alpha")
			ns.Status = tc.status
			st := newFakeStore(log, ns)
			cfg := testConfig()
			cfg.MaxRestarts = 3
			cfg.BackoffMax = time.Hour

			runSupervisor(t, cfg, rt, st)
			got := waitPhase(t, st, "alpha", tc.want)
			if got.Restarts != tc.restarts {
				t.Errorf("restarts %d, want %d (history %v)", got.Restarts, tc.restarts, phasesOf(st.history("alpha")))
			}
		})
	}
}
