package resources

import (
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/runtime"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func stats(cpu time.Duration, mem uint64) runtime.Stats {
	return runtime.Stats{CPUUsage: cpu, MemoryWorkingSet: mem, MemoryLimit: 1 << 30}
}

func cpuOf(t *testing.T, p Point) int64 {
	t.Helper()
	if p.CPUMillis == nil {
		t.Fatalf("reading at %s has no CPU rate", p.Time)
	}
	return *p.CPUMillis
}

func TestCPURateAndMemory(t *testing.T) {
	h := New(time.Hour)
	h.Observe("acme", "c1", t0, stats(10*time.Second, 100))
	h.Observe("acme", "c1", t0.Add(15*time.Second), stats(13*time.Second, 200)) // 3 s of CPU in 15 s: 0.2 core
	h.Observe("acme", "c1", t0.Add(30*time.Second), stats(13*time.Second, 150)) // idle
	got := h.Since("acme", time.Time{})
	if len(got) != 3 {
		t.Fatalf("%d points, want 3", len(got))
	}
	if got[0].CPUMillis != nil {
		t.Errorf("first reading has a CPU rate %d; nothing to compare it with", *got[0].CPUMillis)
	}
	if c := cpuOf(t, got[1]); c != 200 {
		t.Errorf("CPU %d millicores, want 200", c)
	}
	if c := cpuOf(t, got[2]); c != 0 {
		t.Errorf("idle CPU %d millicores, want 0", c)
	}
	if got[1].MemoryBytes != 200 || got[2].MemoryBytes != 150 || got[1].MemoryLimitBytes != 1<<30 {
		t.Errorf("memory %+v", got)
	}
}

func TestNewContainerHasNoRate(t *testing.T) {
	h := New(time.Hour)
	h.Observe("acme", "c1", t0, stats(50*time.Second, 1))
	h.Observe("acme", "c2", t0.Add(15*time.Second), stats(1*time.Second, 1)) // woken into a new container
	h.Observe("acme", "c2", t0.Add(30*time.Second), stats(500*time.Millisecond, 1))
	got := h.Since("acme", time.Time{})
	for i, p := range got {
		if p.CPUMillis != nil {
			t.Errorf("point %d: CPU %d across a new container or a counter reset", i, *p.CPUMillis)
		}
	}
}

func TestWindowDropsOldReadings(t *testing.T) {
	h := New(time.Minute)
	for i := range 10 { // every 15 s for 2m15s
		h.Observe("acme", "c1", t0.Add(time.Duration(i)*15*time.Second), stats(time.Duration(i)*time.Second, uint64(i)))
	}
	got := h.Since("acme", time.Time{})
	// The last at 2m15s; a minute before is 1m15s: readings 5…9.
	if len(got) != 5 || got[0].MemoryBytes != 5 || got[4].MemoryBytes != 9 {
		t.Fatalf("kept %+v, want the readings of the last minute (5…9)", got)
	}
	if s := h.Since("acme", t0.Add(2*time.Minute+time.Second)); len(s) != 1 || s[0].MemoryBytes != 9 {
		t.Errorf("since 2m: %+v", s)
	}
	if s := h.Since("other", time.Time{}); s == nil || len(s) != 0 {
		t.Errorf("unknown namespace: %#v, want empty", s)
	}
}

func TestCapAndForget(t *testing.T) {
	h := New(10 * time.Hour)
	for i := range maxPoints + 50 {
		h.Observe("acme", "c1", t0.Add(time.Duration(i)*time.Second), stats(0, uint64(i)))
	}
	got := h.Since("acme", time.Time{})
	if len(got) != maxPoints || got[0].MemoryBytes != 50 {
		t.Fatalf("%d points from %d, want %d from 50", len(got), got[0].MemoryBytes, maxPoints)
	}
	h.Forget("acme")
	if s := h.Since("acme", time.Time{}); len(s) != 0 {
		t.Errorf("after Forget: %d points", len(s))
	}
	h.Observe("acme", "c1", t0, stats(time.Hour, 1))
	if p := h.Since("acme", time.Time{}); len(p) != 1 || p[0].CPUMillis != nil {
		t.Errorf("after Forget the next reading compared with a forgotten one: %+v", p)
	}
}

func TestConcurrent(t *testing.T) {
	h := New(time.Hour)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ns := []string{"a", "b"}[g%2]
				h.Observe(ns, "c", t0.Add(time.Duration(g*1000+i)*time.Millisecond), stats(0, 1))
				_ = h.Since(ns, time.Time{})
			}
		}()
	}
	wg.Wait()
	if n := len(h.Since("a", time.Time{})) + len(h.Since("b", time.Time{})); n != 800 {
		t.Errorf("%d readings kept, want 800", n)
	}
}
