package supervisor

import (
	"context"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/namespace"
)

// A namespace billing suspended is not woken, whoever asks.
func TestWakeRefusedWhileSuspended(t *testing.T) {
	log := &opLog{}
	rt := newFakeRuntime(log)
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	sp := spec("alpha")
	sp.Spec.Target = namespace.PhaseStopped
	sp.Spec.Suspended = &namespace.Suspension{Reason: "payment overdue: invoice in_1"}
	st := newFakeStore(log, sp)
	s := runSupervisor(t, testConfig(), rt, st)
	waitFor(t, "alpha is known", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, ok := s.known["alpha"]
		return ok
	})
	_, err := s.Wake(context.Background(), "alpha")
	if err == nil || !strings.Contains(err.Error(), "suspended") || !strings.Contains(err.Error(), "in_1") {
		t.Fatalf("wake of a suspended namespace: %v", err)
	}
	if n := rt.count("start", "alpha") + rt.count("create", "alpha"); n != 0 {
		t.Fatalf("the suspended namespace was started: %d", n)
	}
}
