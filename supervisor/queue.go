package supervisor

import (
	"sync"
	"time"
)

// queue hands namespace names to workers. A name is processed by at most one
// worker at a time; adding a name that is already waiting is a no-op, and
// adding one that is being processed makes it run once more afterwards, so
// the newest desired state always gets a pass and stale duplicates vanish.
type queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	waiting    []string
	queued     map[string]bool
	processing map[string]bool
	dirty      map[string]bool
	closed     bool
}

func newQueue() *queue {
	q := &queue{queued: map[string]bool{}, processing: map[string]bool{}, dirty: map[string]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *queue) add(name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.processing[name] {
		q.dirty[name] = true
		return
	}
	if q.queued[name] {
		return
	}
	q.queued[name] = true
	q.waiting = append(q.waiting, name)
	q.cond.Signal()
}

func (q *queue) addAfter(name string, d time.Duration) {
	time.AfterFunc(d, func() { q.add(name) })
}

// get blocks until a name is ready; ok is false once the queue is closed.
func (q *queue) get() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.waiting) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", false
	}
	name := q.waiting[0]
	q.waiting = q.waiting[1:]
	delete(q.queued, name)
	q.processing[name] = true
	return name, true
}

func (q *queue) done(name string) {
	q.mu.Lock()
	delete(q.processing, name)
	again := q.dirty[name]
	delete(q.dirty, name)
	q.mu.Unlock()
	if again {
		q.add(name)
	}
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
