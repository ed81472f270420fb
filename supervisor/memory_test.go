package supervisor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/store"
)

// put adds a namespace as the API would.
func (f *fakeStore) put(ns namespace.Namespace) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ns[ns.Spec.Name] = ns
	f.push(store.Event{Type: store.EventPut, Name: ns.Spec.Name, Namespace: ns})
}

func (f *fakeStore) spec(name string) namespace.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ns[name].Spec
}

// heldRuntime holds chosen calls until the test lets them go, so a test
// can act while one is in flight.
type heldRuntime struct {
	*fakeRuntime
	mu       sync.Mutex
	holds    map[string]chan struct{} // "op namespace" → closed to release
	inFlight map[string]int
}

func newHeldRuntime(rt *fakeRuntime) *heldRuntime {
	return &heldRuntime{fakeRuntime: rt, holds: map[string]chan struct{}{}, inFlight: map[string]int{}}
}

// hold makes the next calls of op on ns wait until release.
func (h *heldRuntime) hold(op, ns string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holds[op+" "+ns] = make(chan struct{})
}

func (h *heldRuntime) release(op, ns string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ch, ok := h.holds[op+" "+ns]; ok {
		close(ch)
		delete(h.holds, op+" "+ns)
	}
}

func (h *heldRuntime) waiting(op, ns string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inFlight[op+" "+ns]
}

func (h *heldRuntime) wait(ctx context.Context, op, ns string) {
	h.mu.Lock()
	ch := h.holds[op+" "+ns]
	if ch != nil {
		h.inFlight[op+" "+ns]++
	}
	h.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

func (h *heldRuntime) Create(ctx context.Context, spec runtime.GatewaySpec) (runtime.Instance, error) {
	h.wait(ctx, "create", spec.Namespace)
	return h.fakeRuntime.Create(ctx, spec)
}

func (h *heldRuntime) Unpause(ctx context.Context, ns string) error {
	h.wait(ctx, "unpause", ns)
	return h.fakeRuntime.Unpause(ctx, ns)
}

func (h *heldRuntime) Stop(ctx context.Context, ns string, d time.Duration) error {
	h.wait(ctx, "stop", ns)
	return h.fakeRuntime.Stop(ctx, ns, d)
}

// fakeActivity is the router's idle tracker with settable open counts.
type fakeActivity struct {
	mu   sync.Mutex
	open map[string]int64
}

func (a *fakeActivity) Last(ns string) (time.Time, int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return time.Time{}, a.open[ns]
}

// oneGatewayBudget fits exactly one gateway.
func oneGatewayBudget() Config {
	cfg := testConfig()
	cfg.MemoryBudget, cfg.MemoryEstimate = 100, 100
	return cfg
}

// Two namespaces created at once with room for one: the check and the
// reservation are one step, so the second never gets a container while the
// first is still on its way up.
func TestConcurrentCreatesDoNotOvercommitTheBudget(t *testing.T) {
	log := &opLog{}
	rt := newHeldRuntime(newFakeRuntime(log))
	st := newFakeStore(log)
	for _, n := range []string{"alpha", "beta"} {
		rt.setBehaviour(n, runsAt(readyGateway(t)))
		rt.hold("create", n)
	}
	runSupervisor(t, oneGatewayBudget(), rt, st)
	st.put(spec("alpha"))
	st.put(spec("beta"))

	pendingForMemory := func(n string) bool {
		s, ok := st.last(n)
		return ok && s.Phase == namespace.PhasePending
	}
	// The refusal can be written before the admitted create reaches the
	// runtime: wait for both, or for two creates.
	waitFor(t, "both creates in flight, or one in flight and the other refused for memory", func() bool {
		n := rt.waiting("create", "alpha") + rt.waiting("create", "beta")
		return n == 2 || (n == 1 && (pendingForMemory("alpha") || pendingForMemory("beta")))
	})
	if n := rt.waiting("create", "alpha") + rt.waiting("create", "beta"); n != 1 {
		t.Fatalf("%d creates in flight with room for one gateway", n)
	}
	rt.release("create", "alpha")
	rt.release("create", "beta")
}

// A wake that must stop a victim first does not hold a worker while the
// victim goes down: with one worker, the victim's own stop needs it.
func TestWaitingForAVictimDoesNotBlockAWorker(t *testing.T) {
	log := &opLog{}
	rt := newHeldRuntime(newFakeRuntime(log))
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	rt.setBehaviour("beta", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	cfg := oneGatewayBudget()
	cfg.Workers = 1
	runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)

	st.put(spec("beta"))
	waitPhase(t, st, "beta", namespace.PhaseRunning)
	if s, _ := st.last("alpha"); s.Phase != namespace.PhaseStopped {
		t.Errorf("victim alpha is %s, want Stopped", s.Phase)
	}
	if rt.count("create", "beta") != 1 {
		t.Errorf("beta created %d times", rt.count("create", "beta"))
	}
}

// A victim's memory still counts until it is down: a second namespace
// that comes while the first victim is stopping does not start on it.
func TestAVictimCountsUntilItIsDown(t *testing.T) {
	log := &opLog{}
	rt := newHeldRuntime(newFakeRuntime(log))
	for _, n := range []string{"alpha", "beta", "gamma"} {
		rt.setBehaviour(n, runsAt(readyGateway(t)))
	}
	st := newFakeStore(log, spec("alpha"))
	cfg := oneGatewayBudget()
	cfg.Workers = 4
	runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)

	rt.hold("stop", "alpha")
	st.put(spec("beta"))
	waitFor(t, "alpha is being stopped", func() bool { return rt.waiting("stop", "alpha") == 1 })
	st.put(spec("gamma"))
	waitFor(t, "gamma is refused or created", func() bool {
		s, ok := st.last("gamma")
		return rt.count("create", "gamma")+rt.count("create", "beta") > 0 || (ok && s.Phase == namespace.PhasePending)
	})
	if n := rt.count("create", "beta") + rt.count("create", "gamma"); n != 0 {
		t.Errorf("%d gateways created while the only victim was still running", n)
	}
	rt.release("stop", "alpha")
	waitFor(t, "beta or gamma runs", func() bool {
		b, _ := st.last("beta")
		g, _ := st.last("gamma")
		return b.Phase == namespace.PhaseRunning || g.Phase == namespace.PhaseRunning
	})
}

// A Paused namespace whose wake is in flight is never stopped to make room
// for another: that would stop what a tenant is waiting for.
func TestANamespaceBeingWokenIsNoVictim(t *testing.T) {
	log := &opLog{}
	rt := newHeldRuntime(newFakeRuntime(log))
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	rt.setBehaviour("beta", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	s := runSupervisor(t, oneGatewayBudget(), rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	if err := s.Sleep(context.Background(), "alpha", namespace.PhasePaused); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, st, "alpha", namespace.PhasePaused)

	rt.hold("unpause", "alpha")
	woken := make(chan error, 1)
	go func() { _, err := s.Wake(context.Background(), "alpha"); woken <- err }()
	waitFor(t, "alpha is being unpaused", func() bool { return rt.waiting("unpause", "alpha") == 1 })

	st.put(spec("beta"))
	waitFor(t, "beta refused, or alpha chosen as victim", func() bool {
		b, ok := st.last("beta")
		return (ok && b.Phase == namespace.PhasePending) || st.spec("alpha").Target != ""
	})
	if tg := st.spec("alpha").Target; tg != "" {
		t.Errorf("alpha, being woken, was chosen as a victim (target %s)", tg)
	}
	rt.release("unpause", "alpha")
	if err := <-woken; err != nil {
		t.Errorf("wake: %v", err)
	}
}

// A namespace with open connections is never a victim, paused or not.
func TestANamespaceWithOpenConnectionsIsNoVictim(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	cfg := oneGatewayBudget()
	cfg.Activity = &fakeActivity{open: map[string]int64{"alpha": 1}}
	s := runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	if err := s.Sleep(context.Background(), "alpha", namespace.PhasePaused); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, st, "alpha", namespace.PhasePaused)

	st.put(spec("beta"))
	waitPhase(t, st, "beta", namespace.PhasePending)
	if tg := st.spec("alpha").Target; tg != namespace.PhasePaused {
		t.Errorf("alpha, with a connection open, got target %s", tg)
	}
}

// A namespace already on its way down (the reaper's sleep) is waited for
// before anyone else is stopped: stopping a second would cost its tenant
// for nothing.
func TestANamespaceGoingDownIsWaitedForFirst(t *testing.T) {
	log := &opLog{}
	rt := newHeldRuntime(newFakeRuntime(log))
	for _, n := range []string{"alpha", "beta", "delta"} {
		rt.setBehaviour(n, runsAt(readyGateway(t)))
	}
	st := newFakeStore(log, spec("alpha"), spec("delta"))
	cfg := testConfig()
	cfg.MemoryBudget, cfg.MemoryEstimate = 200, 100
	cfg.Workers = 4
	s := runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	waitPhase(t, st, "delta", namespace.PhaseRunning)

	rt.hold("stop", "alpha")
	if err := s.Sleep(context.Background(), "alpha", namespace.PhaseStopped); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alpha is being stopped", func() bool { return rt.waiting("stop", "alpha") == 1 })
	st.put(spec("beta"))
	waitFor(t, "beta waits for memory, or delta is chosen", func() bool {
		b, ok := st.last("beta")
		return (ok && b.Phase == namespace.PhasePending) || st.spec("delta").Target != ""
	})
	if tg := st.spec("delta").Target; tg != "" {
		t.Errorf("delta was stopped (target %s) while alpha was already going down", tg)
	}
	rt.release("stop", "alpha")
	waitPhase(t, st, "beta", namespace.PhaseRunning)
	if tg := st.spec("delta").Target; tg != "" {
		t.Errorf("delta was stopped (target %s)", tg)
	}
}
