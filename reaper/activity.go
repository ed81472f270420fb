// Package reaper moves idle namespaces down the phases (Running → Paused →
// Stopped → Evicted) and removes Docker objects of this cluster that no
// namespace owns.
package reaper

import (
	"sync"
	"sync/atomic"
	"time"
)

// Activity is the idle tracker the router feeds: when each namespace last
// saw traffic and how many requests, WebSockets and streams are open now.
// It is on every request's path, so it takes no lock once a namespace has
// an entry.
type Activity struct {
	entries sync.Map // namespace → *entry
}

type entry struct {
	last   atomic.Int64 // unix nanoseconds
	active atomic.Int64
}

// NewActivity makes an empty tracker.
func NewActivity() *Activity { return &Activity{} }

func (a *Activity) entry(ns string) *entry {
	if e, ok := a.entries.Load(ns); ok {
		return e.(*entry)
	}
	e, _ := a.entries.LoadOrStore(ns, &entry{})
	return e.(*entry)
}

// Begin marks the start of a request, WebSocket or stream.
func (a *Activity) Begin(ns string) {
	e := a.entry(ns)
	e.active.Add(1)
	e.last.Store(time.Now().UnixNano())
}

// End marks its end; the namespace's idle time counts from here.
func (a *Activity) End(ns string) {
	e := a.entry(ns)
	e.last.Store(time.Now().UnixNano())
	e.active.Add(-1)
}

// Touch records activity without an open connection (a wake, say).
func (a *Activity) Touch(ns string) {
	a.entry(ns).last.Store(time.Now().UnixNano())
}

// Last returns when the namespace last saw traffic (zero if never since
// start) and how many connections are open.
func (a *Activity) Last(ns string) (time.Time, int64) {
	e, ok := a.entries.Load(ns)
	if !ok {
		return time.Time{}, 0
	}
	en := e.(*entry)
	last := en.last.Load()
	if last == 0 {
		return time.Time{}, en.active.Load()
	}
	return time.Unix(0, last), en.active.Load()
}

// Forget drops a deleted namespace's entry.
func (a *Activity) Forget(ns string) { a.entries.Delete(ns) }
