package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

// squeezeRuntime is a fakeRuntime that can squeeze a paused container:
// after the squeeze it holds mem.
type squeezeRuntime struct {
	*fakeRuntime
	mem  runtime.Memory
	fail error
}

var _ runtime.Squeezer = (*squeezeRuntime)(nil)

func (r *squeezeRuntime) Squeeze(_ context.Context, ns string, _ uint64) (runtime.Memory, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("squeeze", ns)
	if c, ok := r.containers[ns]; !ok || c.State != runtime.StatePaused {
		return runtime.Memory{}, fmt.Errorf("squeezing %s: not paused", ns)
	}
	return r.mem, r.fail
}

func (r *squeezeRuntime) KeepResident(_ context.Context, ns string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("keep-resident", ns)
	return nil
}

func (r *squeezeRuntime) Memory(context.Context, string) (runtime.Memory, error) { return r.mem, nil }

// fakeSwap compresses 3:1, or is unavailable for why.
type fakeSwap struct{ why string }

func (f fakeSwap) Unavailable() string              { return f.why }
func (f fakeSwap) Compressed(swapped uint64) uint64 { return swapped / 3 }

func TestSleepToCompressedSqueezesThenWakes(t *testing.T) {
	log := &opLog{}
	rt := &squeezeRuntime{fakeRuntime: newFakeRuntime(log), mem: runtime.Memory{Resident: 30 << 20, Swapped: 600 << 20}}
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	cfg := testConfig()
	cfg.Swap = fakeSwap{}
	s := runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)

	if err := s.Sleep(context.Background(), "alpha", namespace.PhaseCompressed); err != nil {
		t.Fatal(err)
	}
	got := waitPhase(t, st, "alpha", namespace.PhaseCompressed)
	if got.ResidentBytes != 30<<20 || got.CompressedBytes != 200<<20 {
		t.Errorf("status holds %d resident, %d compressed; want %d and %d", got.ResidentBytes, got.CompressedBytes, 30<<20, 200<<20)
	}
	if p, q := log.index("runtime.pause alpha"), log.index("runtime.squeeze alpha"); p < 0 || q < p {
		t.Errorf("squeezed before pausing: %v", log.ops)
	}
	// Squeezed, thawed for a ready probe and squeezed again; passes over a
	// Compressed namespace then leave it as it is.
	passes(t, rt.fakeRuntime, "alpha", 3)
	if n := rt.count("squeeze", "alpha"); n != 2 {
		t.Errorf("squeezed %d times, want 2", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Wake(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	// Swap is closed when the gateway first runs, and again after the thaw.
	if rt.count("unpause", "alpha") != 2 || rt.count("keep-resident", "alpha") != 2 ||
		log.index("runtime.keep-resident alpha") > log.index("runtime.pause alpha") {
		t.Errorf("woken without a thaw and swap closed: %v", log.ops)
	}
}

func TestCompressedWithoutZramStaysPaused(t *testing.T) {
	for _, tc := range []struct {
		name string
		swap Swap
		fail error
		want string
	}{
		{"no zram", fakeSwap{why: "the kernel has no zram"}, nil, "the kernel has no zram"},
		{"no swap configured", nil, nil, "no zram swap device"},
		{"squeeze fails", fakeSwap{}, errors.New("the kernel reclaimed nothing"), "the kernel reclaimed nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &opLog{}
			rt := &squeezeRuntime{fakeRuntime: newFakeRuntime(log), fail: tc.fail}
			rt.setBehaviour("alpha", runsAt(readyGateway(t)))
			st := newFakeStore(log, spec("alpha"))
			cfg := testConfig()
			cfg.Swap = tc.swap
			s := runSupervisor(t, cfg, rt, st)
			waitPhase(t, st, "alpha", namespace.PhaseRunning)
			if err := s.Sleep(context.Background(), "alpha", namespace.PhaseCompressed); err != nil {
				t.Fatal(err)
			}
			got := waitPhase(t, st, "alpha", namespace.PhasePaused)
			if !strings.HasPrefix(got.Reason, notCompressed) || !strings.Contains(got.Reason, tc.want) {
				t.Errorf("reason %q does not say %q", got.Reason, tc.want)
			}
			passes(t, rt.fakeRuntime, "alpha", 3)
			if n := rt.count("squeeze", "alpha"); n > 1 {
				t.Errorf("a failed squeeze was tried %d times", n)
			}
		})
	}
}

// Under memory pressure a Paused namespace is squeezed, not stopped, when
// that makes room; the budget then charges it what it holds resident and
// compressed.
func TestPressureSqueezesPausedBeforeStopping(t *testing.T) {
	log := &opLog{}
	// 5 resident and 45 swapped (15 compressed): alpha is charged 20.
	rt := &squeezeRuntime{fakeRuntime: newFakeRuntime(log), mem: runtime.Memory{Resident: 5, Swapped: 45}}
	for _, n := range []string{"alpha", "beta"} {
		rt.setBehaviour(n, runsAt(readyGateway(t)))
	}
	st := newFakeStore(log, spec("alpha"))
	cfg := testConfig()
	cfg.MemoryBudget, cfg.MemoryEstimate = 100, 60
	cfg.Swap = fakeSwap{}
	s := runSupervisor(t, cfg, rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	if err := s.Sleep(context.Background(), "alpha", namespace.PhasePaused); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, st, "alpha", namespace.PhasePaused)

	st.put(spec("beta"))
	waitPhase(t, st, "beta", namespace.PhaseRunning)
	if got, _ := st.last("alpha"); got.Phase != namespace.PhaseCompressed {
		t.Fatalf("victim alpha is %s, want Compressed", got.Phase)
	}
	if n := rt.count("stop", "alpha"); n != 0 {
		t.Errorf("alpha stopped %d times; squeezing it made room", n)
	}
	// 60 for beta + 20 for alpha: 20 of 100 free.
	if !s.Fits(20) || s.Fits(21) {
		t.Errorf("the budget does not charge alpha its compressed size: Fits(20)=%v Fits(21)=%v", s.Fits(20), s.Fits(21))
	}
}
