// Package resources keeps the recent cgroup readings of this node's
// gateways in memory, so the console can chart the last hour of CPU and
// memory per namespace (GET /api/v1/namespaces/{name}/resources). The
// readings come from the metering sampler (metering.Observer); nothing is
// stored: a restart of clawd starts the history again.
package resources

import (
	"sync"
	"time"

	"github.com/clawd-dev/clawd/runtime"
)

// DefaultWindow is how far back a History remembers.
const DefaultWindow = time.Hour

// maxPoints bounds one namespace's ring whatever the sampling interval
// (an hour at 1 s; the default 15 s needs 240).
const maxPoints = 3600

// Point is one reading of a gateway's cgroup.
type Point struct {
	Time time.Time `json:"time"`
	// CPUMillis is the CPU the gateway used on average since the previous
	// reading of the same container, in thousandths of a core; absent for
	// a container's first reading (nothing to compare with).
	CPUMillis *int64 `json:"cpuMillis,omitempty"`
	// MemoryBytes is the working set (usage less inactive file cache).
	MemoryBytes uint64 `json:"memoryBytes"`
	// MemoryLimitBytes is the cgroup's limit (0: none).
	MemoryLimitBytes uint64 `json:"memoryLimitBytes,omitempty"`
}

type last struct {
	container string
	cpu       time.Duration
	at        time.Time
}

// History is a per-namespace ring of readings no older than its window.
// It is safe for concurrent use.
type History struct {
	window time.Duration
	mu     sync.Mutex
	points map[string][]Point
	last   map[string]last
}

// New returns a history that keeps window of readings (<= 0: DefaultWindow).
func New(window time.Duration) *History {
	if window <= 0 {
		window = DefaultWindow
	}
	return &History{window: window, points: map[string][]Point{}, last: map[string]last{}}
}

// Window is how far back the history reaches.
func (h *History) Window() time.Duration { return h.window }

// Observe records one reading of ns's gateway (container id) taken at at.
func (h *History) Observe(ns, container string, at time.Time, st runtime.Stats) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := Point{Time: at.UTC(), MemoryBytes: st.MemoryWorkingSet, MemoryLimitBytes: st.MemoryLimit}
	if prev, ok := h.last[ns]; ok && prev.container == container && st.CPUUsage >= prev.cpu && at.After(prev.at) {
		m := int64((st.CPUUsage - prev.cpu) * 1000 / at.Sub(prev.at))
		p.CPUMillis = &m
	}
	h.last[ns] = last{container: container, cpu: st.CPUUsage, at: at}
	ring := h.points[ns]
	// Readings arrive in time order from one sampler; drop what fell out
	// of the window, and the oldest beyond the cap.
	cut := 0
	for cut < len(ring) && at.Sub(ring[cut].Time) > h.window {
		cut++
	}
	if n := len(ring) - cut + 1 - maxPoints; n > 0 {
		cut += n
	}
	if cut > 0 {
		ring = append(ring[:0:0], ring[cut:]...)
	}
	h.points[ns] = append(ring, p)
}

// Since returns ns's readings taken at or after from, oldest first (a
// copy; empty, not nil, when there are none).
func (h *History) Since(ns string, from time.Time) []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []Point{}
	for _, p := range h.points[ns] {
		if !p.Time.Before(from) {
			out = append(out, p)
		}
	}
	return out
}

// Forget drops a deleted namespace's readings.
func (h *History) Forget(ns string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.points, ns)
	delete(h.last, ns)
}
