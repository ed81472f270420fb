package ledger

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchLedger prints figures, asserts none (make bench-ledger): events/s
// ingested through a Writer beside a plain row-at-a-time INSERT loop
// (autocommit) into the same database, and the report and export over
// 1,000 namespaces × 90 days of hourly roll-ups, on SQLite and PostgreSQL.
func TestBenchLedger(t *testing.T) {
	if os.Getenv("CLAWD_BENCH") == "" {
		t.Skip("a benchmark: make bench-ledger")
	}
	const (
		events     = 300_000
		namespaces = 1000
		days       = 90
	)
	type figures struct{ writer, plain, report, reportOne, export, exportRows float64 }
	res := map[string]figures{}
	loadBefore := loadAvg()
	for _, b := range []string{BackendSQLite, BackendPostgres} {
		t.Run(b, func(t *testing.T) {
			var o Options
			if b == BackendSQLite {
				o = sqliteOptions(t)
			} else {
				o = postgresOptions(t)
			}
			o.Logger = nil
			l := open(t, o)
			ctx := context.Background()
			var f figures

			// Ingest: what the hot path does, Add per event; the Writer's
			// Run loop batches; Flush at the end makes all of it durable.
			evs := make([]Event, events)
			now := time.Date(2026, 5, 10, 9, 0, 0, 0, time.UTC)
			for i := range evs {
				evs[i] = Event{ID: "bench-" + strconv.Itoa(i), Time: now.Add(time.Duration(i) * time.Millisecond),
					Namespace: "ns-" + strconv.Itoa(i%namespaces), Model: models[i%3], Calls: 1,
					InputTokens: int64(i % 1000), OutputTokens: int64(i % 300)}
			}
			w := NewWriter(l, WriterOptions{})
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { w.Run(rctx); close(done) }()
			start := time.Now()
			for _, e := range evs {
				w.Add(e)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			el := time.Since(start)
			cancel()
			<-done
			if s := w.Stats(); s.Inserted != events {
				t.Fatalf("writer inserted %d of %d", s.Inserted, events)
			}
			f.writer = events / el.Seconds()

			// The peer: one INSERT per event, each its own commit.
			if _, err := l.w.Exec(`CREATE TABLE bench_plain (id TEXT PRIMARY KEY, ts_micros BIGINT, namespace TEXT,
				model TEXT, calls BIGINT, input_tokens BIGINT, output_tokens BIGINT)`); err != nil {
				t.Fatal(err)
			}
			ins := l.rebind(`INSERT INTO bench_plain VALUES (?, ?, ?, ?, ?, ?, ?)`)
			n := 0
			start = time.Now()
			for ; n < events && time.Since(start) < 3*time.Second; n++ {
				e := evs[n]
				if _, err := l.w.Exec(ins, e.ID, e.Time.UnixMicro(), e.Namespace, e.Model, e.Calls, e.InputTokens, e.OutputTokens); err != nil {
					t.Fatal(err)
				}
			}
			f.plain = float64(n) / time.Since(start).Seconds()

			// 1,000 namespaces × 90 days of hourly roll-ups (2.16 M rows), made
			// by the database itself.
			from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			start = time.Now()
			if _, err := l.w.Exec(`DELETE FROM rollup_hourly`); err != nil {
				t.Fatal(err)
			}
			if _, err := l.w.Exec(l.rebind(`INSERT INTO rollup_hourly (namespace, hour, model, api_requests, calls,
					input_tokens, output_tokens, skills_executed, cpu_micros, memory_mib_seconds, storage_max)
				WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?),
					h(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM h WHERE j < ?)
				SELECT 'ns-' || CAST(i AS TEXT), ? + j * 3600, 'openai/gpt-5', 20 + j % 7, 3 + i % 5,
					1000 + j % 100, 300 + i % 50, j % 3, 3600000000, 256 * 3600, 1073741824 + j * 1000
				FROM n, h`), namespaces-1, days*24-1, from.Unix()); err != nil {
				t.Fatal(err)
			}
			// The daily rows from the hourly ones (the bench's storage grows
			// with the hour, so the last sample is the day's largest).
			if _, err := l.w.Exec(`DELETE FROM rollup_daily`); err != nil {
				t.Fatal(err)
			}
			if _, err := l.w.Exec(`INSERT INTO rollup_daily SELECT namespace, hour / 86400, model,
				SUM(api_requests), SUM(calls), SUM(input_tokens), SUM(output_tokens), SUM(skills_executed),
				SUM(cpu_micros), SUM(memory_mib_seconds), MAX(storage_max), SUM(storage_max), MAX(hour), MAX(storage_max)
				FROM rollup_hourly GROUP BY namespace, hour / 86400, model`); err != nil {
				t.Fatal(err)
			}
			if b == BackendPostgres {
				l.w.Exec(`VACUUM ANALYZE rollup_hourly`)
				l.w.Exec(`VACUUM ANALYZE rollup_daily`)
			} else {
				l.w.Exec(`ANALYZE`)
			}
			t.Logf("%s: %d roll-up rows made in %v", b, namespaces*days*24, time.Since(start).Round(time.Millisecond))
			q := Query{Start: from, End: from.AddDate(0, 0, days)}
			f.report = bestOf(3, func() {
				us, err := l.Report(ctx, q)
				if err != nil || len(us) != namespaces {
					t.Fatalf("report: %d namespaces, %v", len(us), err)
				}
			})
			q1 := q
			q1.Namespace = "ns-500"
			f.reportOne = bestOf(3, func() {
				if us, err := l.Report(ctx, q1); err != nil || len(us) != 1 {
					t.Fatalf("report: %d namespaces, %v", len(us), err)
				}
			})
			rows := 0
			f.export = bestOf(1, func() {
				rows = 0
				if err := l.Export(ctx, q, func(Row) error { rows++; return nil }); err != nil {
					t.Fatal(err)
				}
			})
			f.exportRows = float64(rows)
			res[b] = f
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nledger benchmark (%d events; roll-ups of %d namespaces × %d days × 24 h; %d CPUs, load average %s before, %s after)\n",
		events, namespaces, days, runtime.NumCPU(), loadBefore, loadAvg())
	fmt.Fprintf(&b, "%-46s %14s %14s\n", "", BackendSQLite, BackendPostgres)
	row := func(name string, get func(figures) string) {
		fmt.Fprintf(&b, "%-46s %14s %14s\n", name, get(res[BackendSQLite]), get(res[BackendPostgres]))
	}
	rate := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + "/s" }
	dur := func(v float64) string {
		return time.Duration(v * float64(time.Second)).Round(100 * time.Microsecond).String()
	}
	row("ingest via Writer (batched), events/s", func(f figures) string { return rate(f.writer) })
	row("plain INSERT per event (autocommit), events/s", func(f figures) string { return rate(f.plain) })
	row("report, all 1,000 namespaces, 90 days", func(f figures) string { return dur(f.report) })
	row("report, one namespace, 90 days", func(f figures) string { return dur(f.reportOne) })
	row("export, all namespaces, 90 days", func(f figures) string { return dur(f.export) })
	row("export rows streamed", func(f figures) string { return strconv.FormatFloat(f.exportRows, 'f', 0, 64) })
	fmt.Print(b.String())
}

// loadAvg is the 1-minute load average: the figures are only as good as
// the machine was quiet.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// bestOf runs fn n times and returns the shortest run, in seconds.
func bestOf(n int, fn func()) float64 {
	var ds []time.Duration
	for range n {
		s := time.Now()
		fn()
		ds = append(ds, time.Since(s))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[0].Seconds()
}

// BenchmarkWrite: one Write of 10,000 events (1,000 namespaces, 3 models,
// one hour) per iteration; events/s is the figure.
func BenchmarkWrite(b *testing.B) {
	for _, backend := range []string{BackendSQLite, BackendPostgres} {
		b.Run(backend, func(b *testing.B) {
			o := sqliteOptions(b)
			if backend == BackendPostgres {
				o = postgresOptions(b)
			}
			o.Logger = nil
			l := open(b, o)
			n := 10000
			if s := os.Getenv("LEDGER_BENCH_BATCH"); s != "" {
				n, _ = strconv.Atoi(s)
			}
			evs := make([]Event, n)
			b.ResetTimer()
			for it := range b.N {
				b.StopTimer()
				for i := range evs {
					k := it*n + i
					evs[i] = Event{ID: "b-" + strconv.Itoa(k), Time: t0.Add(time.Duration(k) * time.Millisecond),
						Namespace: "ns-" + strconv.Itoa(k%1000), Model: models[k%3], Calls: 1, InputTokens: 5, OutputTokens: 7}
				}
				b.StartTimer()
				if got := mustWrite(b, l, evs); got != n {
					b.Fatalf("inserted %d", got)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
