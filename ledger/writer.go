package ledger

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// WriterOptions tune a Writer; zero values take the defaults.
type WriterOptions struct {
	FlushEvery time.Duration // how often Run flushes; default 1s (what a crash can lose)
	MaxBatch   int           // events per transaction, and a queue this long wakes Run early; default 50,000
	MaxQueue   int           // events held before Add drops them; default 1,000,000
	// Parallel is how many transactions a flush runs at once: default 1 on
	// SQLite (one writer), 2 on PostgreSQL.
	Parallel int
	Logger   hclog.Logger
}

// SetDefaults fills the zero values.
func (o *WriterOptions) SetDefaults() {
	if o.FlushEvery <= 0 {
		o.FlushEvery = time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 50000
	}
	if o.Parallel <= 0 {
		o.Parallel = 1
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 1000000
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
}

// WriterStats are a Writer's counters since it was made.
type WriterStats struct {
	Queued    int       // added and not yet durable (including a failed batch awaiting its retry)
	Written   int64     // events committed (a retried duplicate counts here, not in Inserted)
	Inserted  int64     // of Written, the events new to the ledger
	Dropped   int64     // refused by Add: the queue was full or the Writer closed
	Invalid   int64     // refused by Add: Event.Validate failed
	Failures  int64     // flushes that failed (their events are kept and retried)
	LastFlush time.Time // the last successful flush
	LastError error     // the last failed flush's error, nil after a success
}

// Writer batches events off the hot path: Add never waits for the
// database, Run flushes every FlushEvery (or sooner when MaxBatch events
// wait), a failed flush keeps its events and the next one retries them —
// with the same ids, so a batch whose commit did happen is not counted
// again. Beyond MaxQueue events Add drops and counts them.
type Writer struct {
	l   *Ledger
	o   WriterOptions
	log hclog.Logger

	kick  chan struct{} // wakes Run when a batch is full
	flush chan struct{} // one flush at a time: a token

	mu       sync.Mutex
	queue    []Event // added, not yet taken by a flush
	retry    []Event // taken by a flush that failed: written first next time
	inflight int     // taken by the flush under way
	closed   bool
	stats    WriterStats
}

// NewWriter returns a Writer into l; start Run, or call Flush yourself.
func NewWriter(l *Ledger, o WriterOptions) *Writer {
	if o.Parallel <= 0 && l.backend == BackendPostgres {
		o.Parallel = 2
	}
	o.SetDefaults()
	w := &Writer{
		l: l, o: o, log: o.Logger.Named("ledger_writer"),
		kick:  make(chan struct{}, 1),
		flush: make(chan struct{}, 1),
	}
	w.flush <- struct{}{}
	return w
}

// Add queues e for the next flush. It never blocks on the database; an
// invalid event, or any beyond MaxQueue or after Close, is dropped and
// counted.
func (w *Writer) Add(e Event) {
	if err := e.Validate(); err != nil {
		w.mu.Lock()
		w.stats.Invalid++
		first := w.stats.Invalid == 1
		w.mu.Unlock()
		if first || w.log.IsDebug() {
			w.log.Warn("usage event refused", "error", err)
		}
		return
	}
	w.mu.Lock()
	if w.closed || len(w.queue)+len(w.retry)+w.inflight >= w.o.MaxQueue {
		w.stats.Dropped++
		n := w.stats.Dropped
		w.mu.Unlock()
		if n == 1 || n%10000 == 0 {
			w.log.Error("usage events dropped: the ledger queue is full or closed", "dropped", n)
		}
		return
	}
	w.queue = append(w.queue, e)
	full := len(w.queue) >= w.o.MaxBatch
	w.mu.Unlock()
	if full {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// Flush commits everything added before it was called and returns once
// that is durable, or the error that stopped it (the events stay queued).
func (w *Writer) Flush(ctx context.Context) error {
	select {
	case <-w.flush:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { w.flush <- struct{}{} }()

	w.mu.Lock()
	batch := append(w.retry, w.queue...)
	w.retry, w.queue = nil, nil
	w.inflight = len(batch)
	w.mu.Unlock()

	// Transactions of MaxBatch events, up to Parallel at once. After a
	// failure no new one starts; the failed and unstarted ones are retried
	// by the next flush (those that committed are durable and stay so).
	var chunks [][]Event
	for len(batch) > 0 {
		n := min(len(batch), w.o.MaxBatch)
		chunks = append(chunks, batch[:n:n])
		batch = batch[n:]
	}
	var (
		mu     sync.Mutex
		next   int
		failed = make([]bool, len(chunks))
		first  error
		wg     sync.WaitGroup
	)
	for range min(w.o.Parallel, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next == len(chunks) {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				ins, err := w.l.Write(ctx, chunks[i])
				if err != nil {
					mu.Lock()
					failed[i] = true
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				w.mu.Lock()
				w.inflight -= len(chunks[i])
				w.stats.Written += int64(len(chunks[i]))
				w.stats.Inserted += int64(ins)
				w.mu.Unlock()
			}
		}()
	}
	wg.Wait()

	w.mu.Lock()
	defer w.mu.Unlock()
	if first != nil {
		var again []Event
		for i, c := range chunks {
			if failed[i] || i >= next {
				again = append(again, c...)
			}
		}
		w.retry = again
		w.inflight = 0
		w.stats.Failures++
		w.stats.LastError = first
		return first
	}
	w.stats.LastFlush = time.Now()
	w.stats.LastError = nil
	return nil
}

// Run flushes every FlushEvery, or as soon as a batch is full, until ctx
// ends; then it flushes once more (for up to 30 s) and returns.
func (w *Writer) Run(ctx context.Context) {
	t := time.NewTicker(w.o.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if err := w.Flush(fctx); err != nil {
				w.log.Error("final usage flush failed: events lost", "queued", w.Stats().Queued, "error", err)
			}
			cancel()
			return
		case <-t.C:
		case <-w.kick:
		}
		if err := w.Flush(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("usage flush failed; retrying", "queued", w.Stats().Queued, "error", err)
		}
	}
}

// Close refuses further events and flushes what is queued (for up to 30 s).
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.Flush(ctx)
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Queued = len(w.queue) + len(w.retry) + w.inflight
	return s
}
