package supervisor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
)

// fakeGate is the router's gate with a settable count of open requests.
type fakeGate struct {
	mu     sync.Mutex
	open   int64
	closed map[string]bool
}

func (g *fakeGate) Close(ns string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed[ns] = true
	return g.open
}

func (g *fakeGate) Open(ns string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed[ns] = false
}

func (g *fakeGate) set(open int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = open
}

func (g *fakeGate) isClosed(ns string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed[ns]
}

// A pause shuts the router's gate first and waits for open requests to end
// (a frozen gateway would hold them forever), up to the drain period; a
// wake reopens the gate.
func TestPauseShutsTheGateAndWaitsForOpenRequests(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	gate := &fakeGate{closed: map[string]bool{}, open: 1}
	cfg := testConfig()
	cfg.Gate = gate
	cfg.StopTimeout = time.Hour
	s := runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)

	if err := s.Sleep(context.Background(), "alpha", namespace.PhasePaused); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the gate is shut", func() bool { return gate.isClosed("alpha") })
	passes(t, rt, "alpha", 3)
	if n := rt.count("pause", "alpha"); n != 0 {
		t.Fatalf("paused %d times with a request open", n)
	}
	gate.set(0)
	waitPhase(t, st, "alpha", namespace.PhasePaused)

	if _, err := s.Wake(context.Background(), "alpha"); err != nil {
		t.Fatal(err)
	}
	if gate.isClosed("alpha") {
		t.Fatal("the gate stayed shut after the wake")
	}
}

// A request that stays open past the drain period does not block the
// pause for ever; a wake before the pause happens cancels it and reopens
// the gate at once.
func TestPauseDrainEndsAndAWakeCancelsIt(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	gate := &fakeGate{closed: map[string]bool{}, open: 1}
	cfg := testConfig()
	cfg.Gate = gate
	cfg.StopTimeout = time.Hour
	s := runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)

	if err := s.Sleep(context.Background(), "alpha", namespace.PhasePaused); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the gate is shut", func() bool { return gate.isClosed("alpha") })
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.Wake(wctx, "alpha"); err != nil {
		t.Fatalf("a wake during the drain: %v", err)
	}
	if gate.isClosed("alpha") || rt.count("pause", "alpha") != 0 {
		t.Fatalf("after the wake: gate shut %v, %d pauses", gate.isClosed("alpha"), rt.count("pause", "alpha"))
	}

	cfg.StopTimeout = 200 * time.Millisecond
	log2 := &opLog{}
	rt2 := newFakeRuntime(log2)
	rt2.setBehaviour("alpha", runsAt(readyGateway(t)))
	st2 := newFakeStore(log2, spec("alpha"))
	s2 := runSupervisor(t, cfg, rt2, st2)
	waitPhase(t, st2, "alpha", namespace.PhaseRunning)
	if err := s2.Sleep(context.Background(), "alpha", namespace.PhasePaused); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, st2, "alpha", namespace.PhasePaused)
}
