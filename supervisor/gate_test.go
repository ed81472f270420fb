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

// sleepWithARequestOpen runs namespace alpha with one request open at
// the gate, asks for a pause, and returns once the gate is shut.
func sleepWithARequestOpen(t *testing.T, drain time.Duration) (*Supervisor, *fakeRuntime, *fakeStore, *fakeGate) {
	t.Helper()
	log := &opLog{}
	rt := newFakeRuntime(log)
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	gate := &fakeGate{closed: map[string]bool{}, open: 1}
	cfg := testConfig()
	cfg.Gate = gate
	cfg.StopTimeout = drain
	s := runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	if err := s.Sleep(context.Background(), "alpha", namespace.PhasePaused); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the gate is shut", func() bool { return gate.isClosed("alpha") })
	return s, rt, st, gate
}

// A pause shuts the router's gate first and waits for open requests to end
// (a frozen gateway would hold them forever), up to the drain period; a
// wake reopens the gate.
func TestPauseShutsTheGateAndWaitsForOpenRequests(t *testing.T) {
	s, rt, st, gate := sleepWithARequestOpen(t, time.Hour)
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
	s, rt, _, gate := sleepWithARequestOpen(t, time.Hour)
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.Wake(wctx, "alpha"); err != nil {
		t.Fatalf("a wake during the drain: %v", err)
	}
	if gate.isClosed("alpha") || rt.count("pause", "alpha") != 0 {
		t.Fatalf("after the wake: gate shut %v, %d pauses", gate.isClosed("alpha"), rt.count("pause", "alpha"))
	}

	_, _, st, _ := sleepWithARequestOpen(t, 200*time.Millisecond)
	waitPhase(t, st, "alpha", namespace.PhasePaused)
}
