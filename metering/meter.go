// Package metering turns what clawd sees into usage events for the
// ledger: tenant requests at the router, model calls at the model gateway,
// and the cgroups and volumes of the gateways this node runs. It also
// prices the ledger's sums for `clawd metering report`.
//
// Events leave here through a Sink (the ledger's batching writer), so the
// paths that produce them never wait on a database. metering.enabled=false
// drops them at the door; metering.backend=prometheus mirrors them into
// clawd_usage_* counters on /metrics as well.
package metering

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawd-dev/clawd/ledger"
)

// Sink takes events for the ledger; it must not block.
type Sink interface {
	Add(ledger.Event)
}

// Backends of metering.backend.
const (
	BackendLedger     = "ledger"
	BackendPrometheus = "prometheus"
)

// Config wires a Meter.
type Config struct {
	// Node names this node in the ids of the events it aggregates.
	Node string
	Sink Sink
	// Registerer gets the clawd_usage_* collector; nil: none.
	Registerer prometheus.Registerer
	Logger     hclog.Logger
}

// Meter is this node's usage meter.
type Meter struct {
	node string
	// boot differs on every start, so the ids of aggregated events never
	// repeat across restarts while a retried write keeps its id.
	boot string
	sink Sink
	log  hclog.Logger
	prom *promUsage

	enabled atomic.Bool
	mirror  atomic.Bool // metering.backend=prometheus

	// reqs is namespace → *atomic.Int64, the requests since the last
	// flush: the router's hot path only loads and adds, taking no lock.
	reqs sync.Map
	seq  atomic.Uint64
}

// New returns a meter, enabled with the ledger backend until Configure
// says otherwise.
func New(cfg Config) *Meter {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	m := &Meter{node: cfg.Node, boot: hex.EncodeToString(b), sink: cfg.Sink, log: cfg.Logger}
	if m.log == nil {
		m.log = hclog.NewNullLogger()
	}
	m.enabled.Store(true)
	m.prom = newPromUsage(&m.mirror)
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(m.prom)
	}
	return m
}

// Configure applies metering.enabled and metering.backend.
func (m *Meter) Configure(enabled bool, backend string) {
	if m.enabled.Swap(enabled) != enabled {
		m.log.Info("metering "+map[bool]string{true: "enabled", false: "disabled: no usage is recorded"}[enabled], "backend", backend)
	}
	m.mirror.Store(enabled && backend == BackendPrometheus)
}

// Enabled reports whether usage is being recorded.
func (m *Meter) Enabled() bool { return m.enabled.Load() }

// Backend is the backend in effect: "ledger", "prometheus" or "off".
func (m *Meter) Backend() string {
	switch {
	case !m.enabled.Load():
		return "off"
	case m.mirror.Load():
		return BackendPrometheus
	}
	return BackendLedger
}

// Add records one event (nothing when metering is disabled).
func (m *Meter) Add(e ledger.Event) {
	if !m.enabled.Load() || e.Namespace == "" {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.ID == "" {
		e.ID = m.newID("e")
	}
	m.sink.Add(e)
	if m.mirror.Load() {
		m.prom.add(e)
	}
}

// Counted counts n tenant requests to namespace ns. They reach the
// ledger as one event per namespace and second (Run), which keeps the
// router's hot path to a lock-free map read and an atomic add.
func (m *Meter) Counted(ns string, n int) {
	if !m.enabled.Load() || n <= 0 {
		return
	}
	c, ok := m.reqs.Load(ns)
	if !ok {
		c, _ = m.reqs.LoadOrStore(ns, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(int64(n))
}

// Run flushes the request counts every second until ctx ends, then once
// more.
func (m *Meter) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.flushRequests(time.Now())
			return
		case now := <-t.C:
			m.flushRequests(now)
		}
	}
}

func (m *Meter) flushRequests(now time.Time) {
	at := now.UTC().Truncate(time.Second)
	m.reqs.Range(func(ns, c any) bool {
		if n := c.(*atomic.Int64).Swap(0); n > 0 {
			m.Add(ledger.Event{ID: m.newID("r"), Time: at, Namespace: ns.(string), APIRequests: n})
		}
		return true
	})
}

// Forget drops a deleted namespace's series from /metrics and its request
// counter.
func (m *Meter) Forget(ns string) {
	m.prom.forget(ns)
	m.reqs.Delete(ns)
}

// newID is unique across nodes and restarts: kind/node/boot/sequence.
func (m *Meter) newID(kind string) string {
	return kind + "/" + m.node + "/" + m.boot + "/" + strconv.FormatUint(m.seq.Add(1), 36)
}
