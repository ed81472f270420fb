package supervisor

import (
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// queue hands namespace names to workers: client-go's delaying work queue.
// A name is processed by at most one worker at a time; adding a name that
// is already waiting is a no-op, and adding one that is being processed
// makes it run once more afterwards, so the newest desired state always
// gets a pass and stale duplicates vanish. A delayed add of a name already
// waiting for its delay keeps only the earlier of the two, so every trigger
// of a namespace shares one timer instead of starting a chain of its own.
type queue struct {
	q workqueue.TypedDelayingInterface[string]
}

func newQueue() *queue { return newQueueWithClock(clock.RealClock{}) }

// newQueueWithClock lets tests step delays by hand.
func newQueueWithClock(c clock.WithTicker) *queue {
	return &queue{q: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{
		Name: "supervisor", Clock: c,
	})}
}

func (q *queue) add(name string) { q.q.Add(name) }

// addAfter adds name once d has passed, or sooner if something adds it
// meanwhile.
func (q *queue) addAfter(name string, d time.Duration) { q.q.AddAfter(name, d) }

// get blocks until a name is ready; ok is false once the queue is closed.
func (q *queue) get() (string, bool) {
	name, shutdown := q.q.Get()
	return name, !shutdown
}

func (q *queue) done(name string) { q.q.Done(name) }

// len is how many names are ready for a worker.
func (q *queue) len() int { return q.q.Len() }

// close hands out nothing more; workers' get returns !ok.
func (q *queue) close() { q.q.ShutDown() }
