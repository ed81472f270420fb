package audit

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Recorder takes audit records; the admin API, the router, quotas and the
// supervisor depend on this, not on the log.
type Recorder interface {
	Record(r Record)
}

var _ Recorder = (*Writer)(nil)

// Selects says whether a namespace records events of a type (audit.enabled,
// audit.events); nil records everything.
type Selects func(ns, typ string) bool

// WriterOptions tune a Writer; zero values take the defaults.
type WriterOptions struct {
	FlushEvery time.Duration // default 200ms: what a crash can lose
	MaxQueue   int           // records held before Record drops them; default 100,000
	Filter     Selects
	Anchor     Anchor // where chain heads go after each commit; nil: none
	// Committed hears of each committed batch, chained (Elasticsearch
	// shipping); it must not block, nor keep the slice (the writer
	// reuses its array).
	Committed func([]Record)
	Logger    hclog.Logger
}

// Writer batches records off the request path: Record never waits for the
// database; Run appends the queue every FlushEvery and then moves each
// chain's anchor in etcd to the new head — after the commit, so a crash
// between the two leaves an anchor behind the records, which Verify
// accepts. A failed append keeps its records for the next flush.
type Writer struct {
	g   *Log
	o   WriterOptions
	log hclog.Logger

	flushMu sync.Mutex // one flush at a time
	mu      sync.Mutex
	queue   []Record
	spare   []Record // the last batch's array, emptied, for the next queue
	dropped int64
}

// NewWriter returns a Writer into g; start Run.
func NewWriter(g *Log, o WriterOptions) *Writer {
	if o.FlushEvery <= 0 {
		o.FlushEvery = 200 * time.Millisecond
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 100000
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return &Writer{g: g, o: o, log: o.Logger}
}

// Record queues r unless the filter excludes it; it never blocks.
func (w *Writer) Record(r Record) {
	if w == nil {
		return
	}
	if w.o.Filter != nil && !w.o.Filter(r.Namespace, r.Type) {
		return
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if r.Outcome == "" {
		r.Outcome = OutcomeSuccess
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) >= w.o.MaxQueue {
		w.dropped++
		if w.dropped == 1 || w.dropped%1000 == 0 {
			w.log.Error("audit queue full: dropping records", "dropped", w.dropped)
		}
		return
	}
	w.queue = append(w.queue, r)
}

// Dropped is how many records a full queue has refused.
func (w *Writer) Dropped() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// Run flushes until ctx ends, then flushes what is left.
func (w *Writer) Run(ctx context.Context) {
	t := time.NewTicker(w.o.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := w.Flush(fctx); err != nil {
				w.log.Error("last audit flush failed", "error", err)
			}
			cancel()
			return
		case <-t.C:
			if err := w.Flush(ctx); err != nil && ctx.Err() == nil {
				w.log.Error("audit flush failed; retrying", "error", err)
			}
		}
	}
}

// Flush appends the queued records and anchors the new heads.
func (w *Writer) Flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	batch := w.queue
	w.queue, w.spare = w.spare, nil
	w.mu.Unlock()
	if len(batch) == 0 {
		w.mu.Lock()
		w.spare = batch
		w.mu.Unlock()
		return nil
	}
	heads, err := w.g.Append(ctx, batch)
	if err != nil {
		w.mu.Lock()
		w.queue = append(batch, w.queue...)
		w.mu.Unlock()
		return err
	}
	if w.o.Committed != nil {
		w.o.Committed(batch) // it copies what it keeps
	}
	// The batch's array serves the next queue: Record then appends
	// without growing a fresh slice after every flush.
	clear(batch)
	w.mu.Lock()
	w.spare = batch[:0]
	w.mu.Unlock()
	if w.o.Anchor == nil {
		return nil
	}
	for ns, h := range heads {
		// A failed anchor write is repaired by the next flush of ns; the
		// chain verifies meanwhile (an anchor behind the records is fine).
		if err := w.o.Anchor.PutAuditHead(ctx, ns, h); err != nil {
			w.log.Warn("anchoring audit head failed", "namespace", ns, "seq", h.Seq, "error", err)
		}
	}
	return nil
}
