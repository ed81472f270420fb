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
	closed atomic.Bool // see Close
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

// Close shuts the namespace's gate while its gateway is put to sleep: the
// router then holds new requests and wakes the namespace instead of
// sending them to a gateway being frozen or stopped. It returns how many
// requests, WebSockets and streams are open. Begin counts a request before
// the router asks Closed, and Close shuts before it counts, so a request
// either sees the gate shut or is counted here (Go's atomics are
// sequentially consistent).
func (a *Activity) Close(ns string) int64 {
	e := a.entry(ns)
	e.closed.Store(true)
	return e.active.Load()
}

// Open reopens the gate, once the namespace runs again.
func (a *Activity) Open(ns string) {
	if e, ok := a.entries.Load(ns); ok {
		e.(*entry).closed.Store(false)
	}
}

// Closed reports whether the namespace's gate is shut.
func (a *Activity) Closed(ns string) bool {
	e, ok := a.entries.Load(ns)
	return ok && e.(*entry).closed.Load()
}

// Forget drops a deleted namespace's entry.
func (a *Activity) Forget(ns string) { a.entries.Delete(ns) }
