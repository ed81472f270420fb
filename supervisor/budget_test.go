package supervisor

import (
	"testing"

	"github.com/clawd-dev/clawd/namespace"
)

// MemoryBudget reports the budget and what a running gateway counts as.
func TestMemoryBudgetReportsWhatIsHeld(t *testing.T) {
	log := &opLog{}
	rt := newHeldRuntime(newFakeRuntime(log))
	st := newFakeStore(log)
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	cfg := testConfig()
	cfg.MemoryBudget, cfg.MemoryEstimate = 1000, 300
	s := runSupervisor(t, cfg, rt, st)
	if b, u := s.MemoryBudget(); b != 1000 || u != 0 {
		t.Fatalf("before any gateway: %d of %d, want 0 of 1000", u, b)
	}
	st.put(spec("alpha"))
	waitFor(t, "alpha Running", func() bool {
		s, ok := st.last("alpha")
		return ok && s.Phase == namespace.PhaseRunning
	})
	if b, u := s.MemoryBudget(); b != 1000 || u != 300 {
		t.Fatalf("one uncapped gateway: %d of %d, want 300 (the estimate) of 1000", u, b)
	}
}
