package supervisor

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

func TestNewNamespaceIsCreatedStartedAndRunning(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	ns := spec("alpha")
	ns.Spec.CPUMillis = 500
	ns.Spec.MemoryBytes = 64 << 20
	st := newFakeStore(log, ns)
	addr := readyGateway(t)
	rt.setBehaviour("alpha", runsAt(addr))

	runSupervisor(t, testConfig(), rt, st)
	got := waitPhase(t, st, "alpha", namespace.PhaseRunning)

	if got.Address != addr || got.ContainerID == "" || got.Node != "node-1" || got.Restarts != 0 || got.Reason != "" {
		t.Errorf("running status = %+v, want address %s, a container id, node node-1, no restarts or reason", got, addr)
	}
	if n := rt.count("start", "alpha"); n != 1 {
		t.Errorf("started %d times, want 1", n)
	}
	specs := rt.createdSpecs()
	if len(specs) == 0 {
		t.Fatal("Create was never called")
	}
	gs := specs[0]
	if gs.Namespace != "alpha" || gs.Image != "clawd/gateway:test" || gs.Port != 18789 ||
		gs.NanoCPUs != 500_000_000 || gs.MemoryBytes != 64<<20 || gs.PidsLimit != 512 {
		t.Errorf("gateway spec = %+v", gs)
	}
	if h := st.history("alpha"); h[0].Phase != namespace.PhaseStarting {
		t.Errorf("first status %s, want Starting before Running (history %v)", h[0].Phase, phasesOf(h))
	}
}

// Only {"ready":true} on the ready path counts: the Control UI answers any
// path with 200 HTML.
func TestReadiness(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        namespace.Phase
	}{
		{"ready true", http.StatusOK, "application/json", `{"ready":true}`, namespace.PhaseRunning},
		{"ready false", http.StatusOK, "application/json", `{"ready":false}`, namespace.PhaseStarting},
		{"html 200", http.StatusOK, "text/html; charset=utf-8", `<!doctype html><html><body>Control UI</body></html>`, namespace.PhaseStarting},
		{"ready true but 503", http.StatusServiceUnavailable, "application/json", `{"ready":true}`, namespace.PhaseStarting},
		{"empty 200", http.StatusOK, "application/json", ``, namespace.PhaseStarting},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log := &opLog{}
			rt := newFakeRuntime(log)
			st := newFakeStore(log, spec("gw"))
			addr, hits := gatewayServer(t, tc.status, tc.contentType, tc.body)
			rt.setBehaviour("gw", runsAt(addr))

			runSupervisor(t, testConfig(), rt, st)
			if tc.want == namespace.PhaseRunning {
				waitPhase(t, st, "gw", namespace.PhaseRunning)
				return
			}
			// Several probes have been answered and judged by now.
			waitFor(t, "three ready probes", func() bool { return hits.Load() >= 3 })
			for _, s := range st.history("gw") {
				if s.Phase == namespace.PhaseRunning {
					t.Fatalf("a gateway answering %d %q was taken as ready (history %v)", tc.status, tc.body, phasesOf(st.history("gw")))
				}
			}
			if s, _ := st.last("gw"); s.Phase != tc.want {
				t.Errorf("phase %s, want %s", s.Phase, tc.want)
			}
			if n := rt.count("start", "gw"); n != 1 {
				t.Errorf("started %d times within the start timeout, want 1", n)
			}
		})
	}
}

func TestCrashLoopEndsFailed(t *testing.T) {
	tests := []struct {
		name   string
		start  onStart
		memory int64
		check  func(reason string) bool
		want   string
	}{
		{"exit code 1", exitsWith(1), 0,
			func(r string) bool { return strings.HasPrefix(r, "exited with code 1") }, `starts with "exited with code 1"`},
		{"OOM killed", oomKilled(), 64 << 20,
			func(r string) bool {
				return strings.HasPrefix(r, "killed by the kernel: out of memory (limit 64Mi, ") && strings.Contains(r, " time today)")
			}, `says the kernel killed it for memory, with the 64Mi limit and how often today`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log := &opLog{}
			rt := newFakeRuntime(log)
			ns := spec("crashy")
			ns.Spec.MemoryBytes = tc.memory
			st := newFakeStore(log, ns)
			rt.setBehaviour("crashy", tc.start)
			cfg := testConfig()
			// The first try once Failed comes after BackoffMax: not
			// during the test, so the starts can be counted.
			cfg.BackoffMax = time.Hour

			runSupervisor(t, cfg, rt, st)
			failed := waitPhase(t, st, "crashy", namespace.PhaseFailed)

			if !tc.check(failed.Reason) {
				t.Errorf("reason %q, want one that %s", failed.Reason, tc.want)
			}
			if !strings.Contains(failed.Reason, "clawd namespace wake crashy") {
				t.Errorf("reason %q does not say how to retry", failed.Reason)
			}
			if failed.Restarts != cfg.MaxRestarts {
				t.Errorf("restarts %d, want %d", failed.Restarts, cfg.MaxRestarts)
			}
			if n := rt.count("start", "crashy"); n != cfg.MaxRestarts {
				t.Errorf("started %d times, want %d", n, cfg.MaxRestarts)
			}
			h := st.history("crashy")
			var seen []int
			for i, s := range h {
				if i > 0 && s.Restarts < h[i-1].Restarts {
					t.Errorf("restarts went down: %v", phasesOf(h))
				}
				if s.Phase == namespace.PhaseStarting && !slices.Contains(seen, s.Restarts) {
					seen = append(seen, s.Restarts)
				}
			}
			if want := []int{0, 1, 2}; !slices.Equal(seen, want) {
				t.Errorf("Starting with restarts %v, want %v (history %v)", seen, want, phasesOf(h))
			}
			if s := h[len(h)-2]; s.Phase != namespace.PhaseStarting || !tc.check(s.Reason) {
				t.Errorf("status before Failed = %+v, want Starting with the crash reason", s)
			}
		})
	}
}

// Failed waits for its next try, however it is poked; a wake tries at once.
func TestFailedWaitsForItsNextTryUntilWake(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	st := newFakeStore(log, spec("crashy"), spec("steady"))
	rt.setBehaviour("crashy", exitsWith(1))
	rt.setBehaviour("steady", runsAt(readyGateway(t)))
	cfg := testConfig()
	cfg.MaxRestarts = 2
	// Starts before Failed stay quick (BackoffBase); the first try once
	// Failed comes after BackoffMax, far beyond the test.
	cfg.BackoffMax, cfg.FailedBackoffMax = time.Hour, 2*time.Hour

	runSupervisor(t, cfg, rt, st)
	failed := waitPhase(t, st, "crashy", namespace.PhaseFailed)
	waitPhase(t, st, "steady", namespace.PhaseRunning)
	starts := rt.count("start", "crashy")
	if d := time.Until(failed.NextTry); d < 50*time.Minute || d > time.Hour {
		t.Errorf("next try in %s, want about BackoffMax (1h)", d)
	}

	// Runtime events and full passes must not revive a Failed namespace,
	// nor may a spec change that is not a wake.
	rt.emit("crashy", runtime.EventDie)
	st.updateSpec(t, "crashy", func(s *namespace.Spec) { s.DisplayName = "Crashy" })
	passes(t, rt, "steady", 5)
	if n := rt.count("start", "crashy"); n != starts {
		t.Fatalf("a Failed namespace was started again (%d starts, then %d)", starts, n)
	}
	if s, _ := st.last("crashy"); s.Phase != namespace.PhaseFailed {
		t.Fatalf("phase %s after passes, want Failed", s.Phase)
	}

	rt.setBehaviour("crashy", runsAt(readyGateway(t)))
	st.updateSpec(t, "crashy", func(s *namespace.Spec) { s.WakeGeneration++ })
	running := waitPhase(t, st, "crashy", namespace.PhaseRunning)
	if running.WakeGeneration != 1 {
		t.Errorf("status wake generation %d, want 1", running.WakeGeneration)
	}
	if n := rt.count("start", "crashy"); n != starts+1 {
		t.Errorf("%d starts after the wake, want 1", n-starts)
	}
}

// A wake must give the namespace a fresh set of MaxRestarts attempts.
func TestWakeGivesFullRestartBudget(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	st := newFakeStore(log, spec("crashy"))
	rt.setBehaviour("crashy", exitsWith(1))
	cfg := testConfig()
	cfg.MaxRestarts = 1
	cfg.BackoffMax = time.Hour // only the wake may start it again

	runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "crashy", namespace.PhaseFailed)
	starts := rt.count("start", "crashy")

	rt.setBehaviour("crashy", runsAt(readyGateway(t)))
	st.updateSpec(t, "crashy", func(s *namespace.Spec) { s.WakeGeneration++ })
	waitFor(t, "the woken namespace is started or fails again", func() bool {
		s, _ := st.last("crashy")
		return rt.count("start", "crashy") > starts || (s.Phase == namespace.PhaseFailed && s.WakeGeneration == 1)
	})
	if rt.count("start", "crashy") == starts {
		s, _ := st.last("crashy")
		t.Fatalf("woken namespace went back to Failed without a start: %+v", s)
	}
	waitPhase(t, st, "crashy", namespace.PhaseRunning)
}

func TestDeleteRemovesContainerThenNamespace(t *testing.T) {
	for _, purge := range []bool{false, true} {
		name := map[bool]string{false: "keep volumes", true: "purge"}[purge]
		t.Run(name, func(t *testing.T) {
			log := &opLog{}
			rt := newFakeRuntime(log)
			st := newFakeStore(log, spec("doomed"))
			rt.setBehaviour("doomed", runsAt(readyGateway(t)))

			runSupervisor(t, testConfig(), rt, st)
			waitPhase(t, st, "doomed", namespace.PhaseRunning)
			st.updateSpec(t, "doomed", func(s *namespace.Spec) { s.Deleting, s.Purge = true, purge })
			waitFor(t, "the namespace is deleted from the store", func() bool { return st.deletions("doomed") > 0 })

			rm := rt.removals("doomed")
			if len(rm) == 0 {
				t.Fatal("Remove was never called")
			}
			for _, o := range rm {
				if o.Volumes != purge {
					t.Errorf("Remove with Volumes=%v, want %v", o.Volumes, purge)
				}
			}
			if r, d := log.index("runtime.remove doomed"), log.index("store.delete doomed"); r < 0 || r > d {
				t.Errorf("store delete (op %d) before runtime remove (op %d)", d, r)
			}
			if s, _ := st.last("doomed"); s.Phase != namespace.PhaseDeleting {
				t.Errorf("last status %s, want Deleting", s.Phase)
			}
			if n := rt.count("create", "doomed"); n != 1 {
				t.Errorf("created %d times, want 1 (nothing may bring a deleted namespace back)", n)
			}
		})
	}
}

func TestOtherNodesNamespaceIsNeverTouched(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	theirs := spec("theirs")
	theirs.Spec.Node = "node-2"
	ours := spec("ours")
	ours.Spec.Node = "node-1"
	st := newFakeStore(log, theirs, ours)
	rt.setBehaviour("ours", runsAt(readyGateway(t)))
	cfg := testConfig()
	cfg.Workers = 1 // FIFO: each pass over ours follows one over theirs

	runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "ours", namespace.PhaseRunning)
	rt.emit("theirs", runtime.EventDie)
	st.updateSpec(t, "theirs", func(s *namespace.Spec) { s.WakeGeneration++ })
	passes(t, rt, "ours", 5)

	if rt.touched("theirs") {
		t.Error("the runtime was called for another node's namespace")
	}
	if h := st.history("theirs"); len(h) != 0 {
		t.Errorf("statuses written for another node's namespace: %v", phasesOf(h))
	}
}

// A zero ResyncInterval (New leaves it as given; config.Static.Validate
// does not check it) must not crash the daemon.
func TestZeroResyncIntervalDoesNotPanic(t *testing.T) {
	log := &opLog{}
	s := New(Config{Node: "node-1", MaxRestarts: 1}, newFakeRuntime(log), newFakeStore(log))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("resync panicked: %v", r)
		}
	}()
	s.resync(ctx)
}

// A booting gateway is only probed between full passes (inspecting its
// container and rendering its config every 50 ms took CPU from the boot),
// yet it is Running as soon as it is ready and a crash meanwhile is seen.
func TestStartingGatewayIsProbedBetweenFullPasses(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	st := newFakeStore(log, spec("slow"))
	var ready atomic.Bool
	var probes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		probes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ready":%t}`, ready.Load())
	}))
	t.Cleanup(srv.Close)
	rt.setBehaviour("slow", runsAt(srv.Listener.Addr().String()))

	runSupervisor(t, testConfig(), rt, st)
	waitPhase(t, st, "slow", namespace.PhaseStarting)
	// Counted against each other, not in a window of time: a loaded or
	// -race machine slows both alike. Probes come about every 50 ms and a
	// full pass about once a second, some 20 probes per inspect; an inspect
	// per probe is what this guards against.
	const wantProbes = 30
	inspects, probed := rt.count("inspect", "slow"), probes.Load()
	waitFor(t, fmt.Sprintf("%d ready probes of the booting gateway", wantProbes), func() bool {
		return probes.Load()-probed >= wantProbes
	})
	p, n := probes.Load()-probed, rt.count("inspect", "slow")-inspects
	if n*5 > int(p) {
		t.Errorf("%d inspects of a booting gateway for %d ready probes, want at least 5 probes per full pass", n, p)
	}

	// A crash while booting is seen at the next full pass: a restart.
	if err := rt.setState("crash", "slow", runtime.StateRunning, runtime.StateExited); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the crashed gateway is started again", func() bool { return rt.count("start", "slow") >= 2 })

	ready.Store(true)
	waitPhase(t, st, "slow", namespace.PhaseRunning)
}
