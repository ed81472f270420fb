package ledger

import (
	"context"
	"database/sql"
	"errors"
	mrand "math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestWriterAddFlushClose(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		w := NewWriter(l, WriterOptions{MaxBatch: 700, FlushEvery: time.Hour})
		evs := randomEvents(mrand.New(mrand.NewPCG(21, 22)), "w", 3000, 5, 10, t0)
		var wg sync.WaitGroup
		for g := range 4 { // Add from several goroutines, as the hot path does
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < 2000; i += 4 {
					w.Add(evs[i])
				}
			}()
		}
		wg.Wait()
		if s := w.Stats(); s.Queued != 2000 || s.Written != 0 {
			t.Fatalf("before Flush: %+v", s)
		}
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := w.Stats(); s.Queued != 0 || s.Written != 2000 || s.Inserted != 2000 || s.LastFlush.IsZero() {
			t.Fatalf("after Flush: %+v", s)
		}
		if n := rawCount(t, l); n != 2000 {
			t.Fatalf("%d events durable after Flush, want 2000", n)
		}
		for _, e := range evs[1000:] { // 1000 again, 1000 new
			w.Add(e)
		}
		w.Add(Event{ID: "no namespace", Time: t0})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		w.Add(evs[0]) // after Close: dropped
		s := w.Stats()
		if s.Written != 4000 || s.Inserted != 3000 || s.Invalid != 1 || s.Dropped != 1 || s.Queued != 0 {
			t.Fatalf("after Close: %+v", s)
		}
		q := month(t, "2026-05")
		sameUsage(t, mustReport(t, l, q), expected(evs, q))
	})
}

func TestWriterDropsBeyondMaxQueue(t *testing.T) {
	l := open(t, sqliteOptions(t))
	w := NewWriter(l, WriterOptions{MaxQueue: 100, FlushEvery: time.Hour})
	evs := randomEvents(mrand.New(mrand.NewPCG(23, 24)), "q", 250, 2, 1, t0)
	for _, e := range evs {
		w.Add(e)
	}
	if s := w.Stats(); s.Queued != 100 || s.Dropped != 150 {
		t.Fatalf("stats %+v, want 100 queued, 150 dropped", s)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Room again once flushed.
	w.Add(evs[200])
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Inserted != 101 || s.Dropped != 150 {
		t.Fatalf("stats %+v, want 101 inserted, 150 dropped", s)
	}
	q := month(t, "2026-05")
	sameUsage(t, mustReport(t, l, q), expected(append(evs[:100:100], evs[200]), q))
}

func TestWriterRetriesAFailedFlush(t *testing.T) {
	boom := errors.New("database refused")
	for _, c := range []struct {
		name string
		hook func(*Ledger) *func() error
	}{
		{"refused before commit", func(l *Ledger) *func() error { return &l.beforeCommit }},
		{"answer lost after commit", func(l *Ledger) *func() error { return &l.afterCommit }},
	} {
		t.Run(c.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, o Options) {
				l := open(t, o)
				evs := randomEvents(mrand.New(mrand.NewPCG(25, 26)), "r", 1500, 3, 4, t0)
				hook := c.hook(l)
				w := NewWriter(l, WriterOptions{MaxBatch: 400, FlushEvery: 5 * time.Millisecond})
				var mu sync.Mutex
				fails := 0
				*hook = func() error {
					mu.Lock()
					defer mu.Unlock()
					if fails == 0 {
						fails++
						return boom
					}
					return nil
				}
				defer func() { *hook = nil }()
				for _, e := range evs {
					w.Add(e)
				}
				if err := w.Flush(context.Background()); !errors.Is(err, boom) {
					t.Fatalf("Flush = %v, want the refusal", err)
				}
				// On PostgreSQL a second transaction of the flush may have
				// committed beside the refused one.
				if s := w.Stats(); s.Failures != 1 || s.Queued == 0 || s.Queued != len(evs)-int(s.Written) || s.LastError == nil {
					t.Fatalf("after the refusal: %+v", s)
				}
				// Run retries it on its own.
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { w.Run(ctx); close(done) }()
				deadline := time.Now().Add(20 * time.Second)
				for w.Stats().Queued != 0 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
				<-done
				if s := w.Stats(); s.Queued != 0 || s.Written != int64(len(evs)) || s.LastError != nil {
					t.Fatalf("after the retry: %+v", s)
				}
				q := month(t, "2026-05")
				sameUsage(t, mustReport(t, l, q), expected(evs, q))
			})
		})
	}
}

func TestWriterRunFlushesOnTimeAndAtTheEnd(t *testing.T) {
	l := open(t, sqliteOptions(t))
	w := NewWriter(l, WriterOptions{FlushEvery: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	evs := randomEvents(mrand.New(mrand.NewPCG(27, 28)), "run", 600, 2, 1, t0)
	for _, e := range evs[:300] {
		w.Add(e)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rawCount(t, l) != 300 {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not flush within 10 s: %+v", w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, e := range evs[300:] {
		w.Add(e)
	}
	cancel()
	<-done
	if n := rawCount(t, l); n != 600 {
		t.Fatalf("%d events after Run ended, want 600 (its final flush)", n)
	}
}

func TestWriterFullBatchWakesRun(t *testing.T) {
	l := open(t, sqliteOptions(t))
	w := NewWriter(l, WriterOptions{FlushEvery: time.Hour, MaxBatch: 100})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	for _, e := range randomEvents(mrand.New(mrand.NewPCG(29, 30)), "k", 100, 2, 1, t0) {
		w.Add(e)
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Written != 100 {
		if time.Now().After(deadline) {
			t.Fatalf("a full batch did not wake Run: %+v", w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWriterAddDoesNotWaitForTheDatabase(t *testing.T) {
	// Another process holds SQLite's write lock: the flush waits for it,
	// Add does not.
	o := sqliteOptions(t)
	l := open(t, o)
	other, err := sql.Open("sqlite", "file:"+filepath.Join(o.Dir, "ledger.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(l, WriterOptions{FlushEvery: time.Hour})
	evs := randomEvents(mrand.New(mrand.NewPCG(31, 32)), "b", 20000, 5, 1, t0)
	w.Add(evs[0])
	flushed := make(chan error, 1)
	go func() { flushed <- w.Flush(context.Background()) }()
	added := make(chan struct{})
	go func() {
		for _, e := range evs[1:] {
			w.Add(e)
		}
		close(added)
	}()
	select {
	case <-added:
	case err := <-flushed:
		t.Fatalf("the flush ended (%v) while the database was locked", err)
	case <-time.After(8 * time.Second): // below the 10 s busy timeout
		t.Fatal("Add waited for the locked database")
	}
	lock.Rollback()
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := rawCount(t, l); n != int64(len(evs)) {
		t.Fatalf("%d events, want %d", n, len(evs))
	}
}
