package supervisor

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func mustGet(t *testing.T, q *queue) string {
	t.Helper()
	if q.len() == 0 {
		t.Fatal("get would block: nothing is waiting")
	}
	name, ok := q.get()
	if !ok {
		t.Fatal("get on an open queue returned !ok")
	}
	return name
}

func TestQueue(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, q *queue) []string // returns names processed
		want []string
		left int // still waiting at the end
	}{
		{
			name: "duplicates collapse",
			run: func(t *testing.T, q *queue) []string {
				q.add("a")
				q.add("a")
				q.add("b")
				q.add("a")
				return []string{mustGet(t, q), mustGet(t, q)}
			},
			want: []string{"a", "b"},
		},
		{
			name: "add while processing waits, then runs once",
			run: func(t *testing.T, q *queue) []string {
				q.add("a")
				got := []string{mustGet(t, q)}
				q.add("a")
				q.add("a")
				if n := q.len(); n != 0 {
					t.Errorf("%d waiting while a worker has a", n)
				}
				q.done("a")
				got = append(got, mustGet(t, q))
				q.done("a")
				return got
			},
			want: []string{"a", "a"},
		},
		{
			name: "done without a new add does not re-run",
			run: func(t *testing.T, q *queue) []string {
				q.add("a")
				got := []string{mustGet(t, q)}
				q.done("a")
				return got
			},
			want: []string{"a"},
		},
		{
			name: "other names are not held up by one being processed",
			run: func(t *testing.T, q *queue) []string {
				q.add("a")
				got := []string{mustGet(t, q)}
				q.add("a")
				q.add("b")
				got = append(got, mustGet(t, q))
				q.done("a")
				return got
			},
			want: []string{"a", "b"},
			left: 1,
		},
		{
			name: "closed queue takes nothing",
			run: func(t *testing.T, q *queue) []string {
				q.close()
				q.add("b")
				if _, ok := q.get(); ok {
					t.Error("get on a closed queue returned ok")
				}
				return nil
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue()
			defer q.close()
			got := tc.run(t, q)
			if !slices.Equal(got, tc.want) {
				t.Errorf("processed %v, want %v", got, tc.want)
			}
			if n := q.len(); n != tc.left {
				t.Errorf("left %d waiting, want %d", n, tc.left)
			}
		})
	}
}

// Every trigger of a namespace that asks for a later pass (a retry, a
// probe, a config change) shares one timer: many delayed adds give one
// pass, not one each.
func TestQueueDelayedAddsAreDeduplicated(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	q := newQueueWithClock(clk)
	defer q.close()
	for i := range 50 {
		q.addAfter("a", time.Second+time.Duration(i)*time.Millisecond)
	}
	waitFor(t, "the delayed adds are waiting on the clock", func() bool { return clk.HasWaiters() })
	clk.Step(time.Minute)
	waitFor(t, "a is ready", func() bool { return q.len() == 1 })
	if got := mustGet(t, q); got != "a" {
		t.Fatalf("got %q", got)
	}
	q.done("a")
	clk.Step(time.Hour)
	// A later add is a barrier: the queue is FIFO, so anything the
	// delayed adds left behind would come out before it.
	q.add("barrier")
	if got := mustGet(t, q); got != "barrier" {
		t.Errorf("after one pass over a, the queue still had %q: each delayed add ran on its own timer", got)
	}
}

// Many workers and a stream of adds: one name is never processed twice at
// once, and the newest add is always followed by a pass.
func TestQueueConcurrentWorkers(t *testing.T) {
	q := newQueue()
	var (
		version   atomic.Int64 // bumped before every add: the "desired state"
		seen      atomic.Int64 // the newest version a pass has observed
		inFlight  atomic.Int32
		overlap   atomic.Bool
		wg        sync.WaitGroup
		processed atomic.Int64
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				name, ok := q.get()
				if !ok {
					return
				}
				if inFlight.Add(1) > 1 {
					overlap.Store(true)
				}
				v := version.Load()
				if v > seen.Load() {
					seen.Store(v) // only one worker holds "ns" at a time
				}
				processed.Add(1)
				inFlight.Add(-1)
				q.done(name)
			}
		}()
	}
	const adds = 2000
	for range adds {
		version.Add(1)
		q.add("ns")
	}
	waitFor(t, "the last add gets a pass", func() bool { return seen.Load() == adds })
	q.close()
	wg.Wait()
	if overlap.Load() {
		t.Error("two workers processed the same name at once")
	}
	if n := processed.Load(); n > adds {
		t.Errorf("%d passes for %d adds", n, adds)
	}
}
