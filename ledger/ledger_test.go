package ledger

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOpenMigratesOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		mustWrite(t, l, []Event{{ID: "a", Time: t0, Namespace: "ns", APIRequests: 1}})
		l.Close()
		// Opened again (and by several at once, as nodes of a cluster do):
		// the schema and the data stay.
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := Open(context.Background(), o)
				if err == nil {
					l.Close()
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
		}
		l = open(t, o)
		var v int
		if err := l.w.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion {
			t.Fatalf("schema version %d (%v), want %d", v, err, SchemaVersion)
		}
		if n := rawCount(t, l); n != 1 {
			t.Fatalf("%d events after reopening, want 1", n)
		}
		if l.Backend() != map[bool]string{true: BackendSQLite, false: BackendPostgres}[o.DSN == ""] {
			t.Fatalf("Backend() = %q", l.Backend())
		}
	})
}

func TestWriteIsIdempotent(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		r := mrand.New(mrand.NewPCG(1, 2))
		evs := randomEvents(r, "e", 3000, 7, 20, t0.AddDate(0, 0, -9))
		q := month(t, "2026-05")

		if n := mustWrite(t, l, evs[:2000]); n != 2000 {
			t.Fatalf("first write inserted %d, want 2000", n)
		}
		if n := mustWrite(t, l, evs[:2000]); n != 0 {
			t.Fatalf("the same batch again inserted %d, want 0", n)
		}
		// Overlapping: 1000 old, 1000 new, and duplicates inside the batch.
		over := append(append([]Event{}, evs[1000:3000]...), evs[2500:2600]...)
		if n := mustWrite(t, l, over); n != 1000 {
			t.Fatalf("overlapping batch inserted %d, want 1000", n)
		}
		// A same-id event with other counts is the same event: not counted.
		dup := evs[5]
		dup.APIRequests += 100
		if n := mustWrite(t, l, []Event{dup}); n != 0 {
			t.Fatalf("a changed duplicate inserted %d", n)
		}
		sameUsage(t, mustReport(t, l, q), expected(evs, q))
		if n := rawCount(t, l); n != 3000 {
			t.Fatalf("%d raw events, want 3000", n)
		}
	})
}

func TestWriteRetriedAfterFailureCountsOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		evs := randomEvents(mrand.New(mrand.NewPCG(3, 4)), "f", 500, 3, 5, t0)
		q := month(t, "2026-05")
		boom := errors.New("injected failure")

		// The transaction fails after its inserts: nothing may stay claimed.
		l.beforeCommit = func() error { return boom }
		if _, err := l.Write(context.Background(), evs); !errors.Is(err, boom) {
			t.Fatalf("Write = %v, want the injected failure", err)
		}
		l.beforeCommit = nil
		if n := rawCount(t, l); n != 0 {
			t.Fatalf("%d events kept from a failed write", n)
		}
		if us := mustReport(t, l, q); len(us) != 0 {
			t.Fatalf("a failed write left roll-ups: %+v", us)
		}
		if n := mustWrite(t, l, evs[:300]); n != 300 {
			t.Fatalf("retry inserted %d, want 300", n)
		}

		// The commit happens but its answer is lost: the retry finds every id
		// claimed and counts nothing again.
		l.afterCommit = func() error { return boom }
		if _, err := l.Write(context.Background(), evs); !errors.Is(err, boom) {
			t.Fatalf("Write = %v, want the injected failure", err)
		}
		l.afterCommit = nil
		if n := mustWrite(t, l, evs); n != 0 {
			t.Fatalf("retry after a lost answer inserted %d, want 0", n)
		}
		sameUsage(t, mustReport(t, l, q), expected(evs, q))
	})
}

func TestWriteRefusesInvalidEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		for _, e := range []Event{
			{Time: t0, Namespace: "ns"},
			{ID: "x", Time: t0},
			{ID: "x", Namespace: "ns"},
			{ID: "x", Time: t0, Namespace: "ns", InputTokens: -1},
			{ID: "x", Time: t0, Namespace: "n\x00s"},
			{ID: "x", Time: time.Unix(0, 0), Namespace: "ns"},
			{ID: "x", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Namespace: "ns"},
			{ID: "x\xff", Time: t0, Namespace: "ns"},
			{ID: "x", Time: t0, Namespace: "ns", Model: "bad\xc3"},
		} {
			if _, err := l.Write(context.Background(), []Event{{ID: "ok", Time: t0, Namespace: "ns", Calls: 1}, e}); !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("Write(%+v) = %v, want ErrInvalidEvent", e, err)
			}
		}
		if n := rawCount(t, l); n != 0 {
			t.Fatalf("a refused batch wrote %d events", n)
		}
	})
}

func TestConcurrentWritersCountOnce(t *testing.T) {
	// Nodes of a cluster (or a retry racing its original) write the same
	// events at once: each is counted by exactly one of them.
	eachBackend(t, func(t *testing.T, o Options) {
		l1, l2 := open(t, o), open(t, o)
		evs := randomEvents(mrand.New(mrand.NewPCG(5, 6)), "c", 4000, 5, 3, t0)
		var wg sync.WaitGroup
		total := make([]int, 4)
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := []*Ledger{l1, l2}[i%2]
				for off := 0; off < len(evs); off += 500 {
					// A different order per writer, in overlapping slices.
					j := (off + i*1000) % len(evs)
					n, err := l.Write(context.Background(), evs[j:min(j+700, len(evs))])
					if err != nil {
						t.Errorf("writer %d: %v", i, err)
						return
					}
					total[i] += n
				}
			}()
		}
		wg.Wait()
		sum := 0
		for _, n := range total {
			sum += n
		}
		if sum != len(evs) {
			t.Fatalf("writers inserted %d in all, want %d", sum, len(evs))
		}
		q := month(t, "2026-05")
		sameUsage(t, mustReport(t, l1, q), expected(evs, q))
	})
}

func TestReportSumsAndModels(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		evs := randomEvents(mrand.New(mrand.NewPCG(7, 8)), "r", 5000, 9, 40, t0.AddDate(0, 0, -20))
		mustWrite(t, l, evs)
		for _, p := range []string{"2026-04", "2026-05", "2026-Q2", "2026-05-03..2026-05-17", "2026-05-10"} {
			q := month(t, p)
			t.Run(p, func(t *testing.T) { sameUsage(t, mustReport(t, l, q), expected(evs, q)) })
			q.Namespace = "ns-3"
			t.Run(p+"/ns-3", func(t *testing.T) {
				got := mustReport(t, l, q)
				if len(got) != 1 || got[0].Namespace != "ns-3" {
					t.Fatalf("one namespace's report: %+v", got)
				}
				sameUsage(t, got, expected(evs, q))
			})
		}
		q := month(t, "2026-05")
		q.Namespace = "nobody"
		if got := mustReport(t, l, q); len(got) != 0 {
			t.Fatalf("a namespace without usage has a report: %+v", got)
		}
	})
}

func TestReportExactFigures(t *testing.T) {
	// Hand-made figures, so the conversions are checked against numbers a
	// reader can verify, not only against another computation.
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		h := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
		mustWrite(t, l, []Event{
			{ID: "1", Time: h, Namespace: "acme", Model: "openai/gpt-5", Calls: 1, InputTokens: 1000, OutputTokens: 500},
			{ID: "2", Time: h.Add(time.Minute), Namespace: "acme", Model: "openai/gpt-5", Calls: 1, InputTokens: 10, OutputTokens: 5},
			{ID: "3", Time: h, Namespace: "acme", Model: "anthropic/claude", Calls: 2, InputTokens: 7, OutputTokens: 3},
			{ID: "4", Time: h, Namespace: "acme", APIRequests: 3, SkillsExecuted: 2},
			{ID: "5", Time: h, Namespace: "acme", CPUMicros: 1_500_000, MemoryMiBSeconds: 1024 * 3600 / 2},
			{ID: "6", Time: h, Namespace: "acme", StorageBytes: 2 << 30},
			{ID: "7", Time: h.Add(30 * time.Minute), Namespace: "acme", StorageBytes: 3 << 30}, // the hour's max
			{ID: "8", Time: h.Add(2 * time.Hour), Namespace: "acme", StorageBytes: 1 << 30},    // the latest hour
			{ID: "9", Time: h, Namespace: "beta", APIRequests: 1},
		})
		us := mustReport(t, l, month(t, "2026-05"))
		if len(us) != 2 || us[0].Namespace != "acme" || us[1].Namespace != "beta" {
			t.Fatalf("report: %+v", us)
		}
		u := us[0]
		check := func(name string, got, want any) {
			if got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		check("tokens_used", u.TokensUsed(), int64(1525))
		check("calls", u.Calls, int64(4))
		check("api_requests", u.APIRequests, int64(3))
		check("skills", u.SkillsExecuted, int64(2))
		check("gpt tokens", u.TokensByModel["openai/gpt-5"], int64(1515))
		check("claude tokens", u.TokensByModel["anthropic/claude"], int64(10))
		check("claude calls", u.CallsByModel["anthropic/claude"], int64(2))
		check("models", len(u.TokensByModel), 2)
		check("cpu_seconds", u.CPUSeconds, 1.5)
		check("memory_gib_hours", u.MemoryGiBHours, 0.5)
		check("storage_bytes", u.StorageBytes, int64(1<<30))
		check("storage_gib_hours", u.StorageGiBHours, 4.0)
		check("beta requests", us[1].APIRequests, int64(1))
	})
}

func TestPeriodBoundaries(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		at := func(s string) time.Time {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				t.Fatal(err)
			}
			return tm
		}
		var evs []Event
		for i, s := range []string{
			"2026-03-31T23:59:59Z", "2026-04-01T00:00:00Z", "2026-04-30T23:59:59Z",
			"2026-05-01T00:00:00Z", "2026-05-31T23:59:59Z", "2026-06-01T00:00:00Z",
			"2026-06-30T23:59:59Z", "2026-07-01T00:00:00Z",
		} {
			evs = append(evs, Event{ID: strconv.Itoa(i), Time: at(s), Namespace: "ns", APIRequests: 1 << i})
		}
		mustWrite(t, l, evs)
		for _, c := range []struct {
			period string
			want   int64 // which events' bits
		}{
			{"2026-05", 1<<3 | 1<<4},
			{"2026-Q2", 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<5 | 1<<6},
			{"2026-04-30..2026-05-31", 1<<2 | 1<<3 | 1<<4},
			{"2026-05-01..2026-05-01", 1 << 3},
			{"2026-05-31", 1 << 4},
			{"2026-q1", 1 << 0},
			{"2026", 0xff},
		} {
			us := mustReport(t, l, month(t, c.period))
			var got int64
			if len(us) == 1 {
				got = us[0].APIRequests
			}
			if got != c.want {
				t.Errorf("%s: events %08b, want %08b", c.period, got, c.want)
			}
		}
	})
}

func TestExportStreamsRowsThatSumToTheReport(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		evs := randomEvents(mrand.New(mrand.NewPCG(9, 10)), "x", 4000, 6, 25, t0.AddDate(0, 0, -12))
		mustWrite(t, l, evs)
		q := month(t, "2026-05")

		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		cw.Write([]string{"namespace", "day", "meter", "model", "value"})
		var prev Row
		n := 0
		err := l.Export(context.Background(), q, func(r Row) error {
			if n > 0 {
				a := []string{prev.Namespace, prev.Day, prev.Meter, prev.Model}
				b := []string{r.Namespace, r.Day, r.Meter, r.Model}
				if !less(a, b) {
					t.Fatalf("row %d out of order: %v after %v", n, b, a)
				}
			}
			prev = r
			n++
			return cw.Write([]string{r.Namespace, r.Day, r.Meter, r.Model, strconv.FormatFloat(r.Value, 'f', -1, 64)})
		})
		if err != nil {
			t.Fatalf("Export: %v", err)
		}
		cw.Flush()

		// The CSV, read back by a CSV parser, sums to the report.
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("reading the CSV back: %v", err)
		}
		if len(recs) != n+1 {
			t.Fatalf("CSV has %d records, want %d", len(recs), n+1)
		}
		type key struct{ ns, meter, model string }
		sums := map[key]float64{}   // per model
		totals := map[key]float64{} // per namespace and meter
		days := map[string]map[string]bool{}
		for _, rec := range recs[1:] {
			v, err := strconv.ParseFloat(rec[4], 64)
			if err != nil {
				t.Fatal(err)
			}
			totals[key{rec[0], rec[2], ""}] += v
			sums[key{rec[0], rec[2], rec[3]}] += v
			if days[rec[0]] == nil {
				days[rec[0]] = map[string]bool{}
			}
			days[rec[0]][rec[1]] = true
		}
		report := mustReport(t, l, q)
		if len(days) != len(report) {
			t.Fatalf("export has %d namespaces, report %d", len(days), len(report))
		}
		near := func(a, b float64) bool { return a-b < 1e-6*max(1, b) && b-a < 1e-6*max(1, b) }
		for _, u := range report {
			for _, c := range []struct {
				meter string
				want  float64
			}{
				{MeterAPIRequests, float64(u.APIRequests)}, {MeterModelCalls, float64(u.Calls)},
				{MeterInputTokens, float64(u.InputTokens)}, {MeterOutputTokens, float64(u.OutputTokens)},
				{MeterSkillsExecuted, float64(u.SkillsExecuted)}, {MeterCPUSeconds, u.CPUSeconds},
				{MeterMemoryGiBHours, u.MemoryGiBHours},
			} {
				if got := totals[key{u.Namespace, c.meter, ""}]; !near(got, c.want) {
					t.Errorf("%s %s: export sums to %v, report says %v", u.Namespace, c.meter, got, c.want)
				}
			}
			for m, tok := range u.TokensByModel {
				got := sums[key{u.Namespace, MeterInputTokens, m}] + sums[key{u.Namespace, MeterOutputTokens, m}]
				if m != "" && got != float64(tok) {
					t.Errorf("%s %s: export has %v tokens, report %d", u.Namespace, m, got, tok)
				}
			}
		}
		// Every day with usage is there, each with its own day-max storage.
		wantDays := map[string]bool{}
		for _, e := range evs {
			if h := hourOf(e.Time); h >= q.Start.Unix() && h < q.End.Unix() && e.Namespace == "ns-0" {
				wantDays[e.Time.UTC().Format(time.DateOnly)] = true
			}
		}
		if len(days["ns-0"]) != len(wantDays) {
			t.Errorf("ns-0 has %d days in the export, want %d", len(days["ns-0"]), len(wantDays))
		}

		// fn's error stops the stream and comes back.
		stop := errors.New("enough")
		seen := 0
		if err := l.Export(context.Background(), q, func(Row) error { seen++; return stop }); !errors.Is(err, stop) || seen != 1 {
			t.Fatalf("Export after fn's error: %v after %d rows", err, seen)
		}
	})
}

// less orders export keys: namespace, day, meter, model.
func less(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func TestRetainDropsWholeOldDaysAndKeepsRollups(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		evs := randomEvents(mrand.New(mrand.NewPCG(11, 12)), "t", 3000, 4, 10, start)
		// The edges of the cut: the last second of the last dropped day, the
		// first of the first kept one.
		evs = append(evs,
			Event{ID: "edge-out", Time: time.Date(2026, 5, 6, 23, 59, 59, 0, time.UTC), Namespace: "ns-0", APIRequests: 1},
			Event{ID: "edge-in", Time: time.Date(2026, 5, 7, 0, 0, 0, 0, time.UTC), Namespace: "ns-0", APIRequests: 1})
		mustWrite(t, l, evs)
		q := month(t, "2026-05")
		before := mustReport(t, l, q)

		cut := time.Date(2026, 5, 7, 13, 30, 0, 0, time.UTC) // keeps May 7 on
		var old int64
		for _, e := range evs {
			if e.Time.Before(time.Date(2026, 5, 7, 0, 0, 0, 0, time.UTC)) {
				old++
			}
		}
		res, err := l.Retain(context.Background(), cut)
		if err != nil {
			t.Fatalf("Retain: %v", err)
		}
		if res.Days != 6 || res.Events != old || !res.Before.Equal(time.Date(2026, 5, 7, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("Retain = %+v, want 6 days, %d events, before May 7", res, old)
		}
		if n := rawCount(t, l); n != int64(len(evs))-old {
			t.Fatalf("%d raw events kept, want %d", n, int64(len(evs))-old)
		}
		var edge int
		l.w.QueryRow(l.rebind(`SELECT count(*) FROM events WHERE id = ?`), "edge-in").Scan(&edge)
		if edge != 1 {
			t.Fatalf("the first second of the first kept day was dropped")
		}
		// Billing still sees everything.
		sameUsage(t, mustReport(t, l, q), before)

		// A late retry of a dropped day is refused, not counted again; the
		// kept days still deduplicate.
		if n := mustWrite(t, l, evs); n != 0 {
			t.Fatalf("rewriting after retention inserted %d, want 0", n)
		}
		sameUsage(t, mustReport(t, l, q), before)

		res, err = l.Retain(context.Background(), cut)
		if err != nil || res.Days != 0 || res.Events != 0 {
			t.Fatalf("second Retain = %+v, %v; want nothing dropped", res, err)
		}
		if l.Backend() == BackendPostgres {
			var parts int
			var oldest string
			l.w.QueryRow(`SELECT count(*), min(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
				WHERE i.inhparent = 'events'::regclass`).Scan(&parts, &oldest)
			if parts != 5 || oldest != "events_20260507" {
				t.Fatalf("%d day partitions left from %s, want 5 from events_20260507 (May 7-10, and May 11 made ahead)", parts, oldest)
			}
		} else {
			var free int
			l.w.QueryRow(`PRAGMA freelist_count`).Scan(&free)
			if free != 0 {
				t.Fatalf("%d free pages kept in the file after retention", free)
			}
		}
	})
}

func TestExportOrderIsByNamespaceDayMeterModel(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		d1 := time.Date(2026, 5, 1, 5, 0, 0, 0, time.UTC)
		d2 := d1.AddDate(0, 0, 1)
		mustWrite(t, l, []Event{
			{ID: "1", Time: d2, Namespace: "b", Model: "z/m", Calls: 1, InputTokens: 2, OutputTokens: 3},
			{ID: "2", Time: d1, Namespace: "b", Model: "a/m", Calls: 1, InputTokens: 4, OutputTokens: 5},
			{ID: "3", Time: d1, Namespace: "a", APIRequests: 7, StorageBytes: 100},
			{ID: "4", Time: d1.Add(time.Hour), Namespace: "a", StorageBytes: 300},
			{ID: "5", Time: d1, Namespace: "b", Model: "z/m", Calls: 2},
		})
		var got []string
		if err := l.Export(context.Background(), month(t, "2026-05"), func(r Row) error {
			got = append(got, fmt.Sprintf("%s %s %s %s %v", r.Namespace, r.Day, r.Meter, r.Model, r.Value))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"a 2026-05-01 api_requests  7", "a 2026-05-01 cpu_seconds  0", "a 2026-05-01 memory_gib_hours  0",
			"a 2026-05-01 skills_executed  0", "a 2026-05-01 storage_bytes  300",
			"b 2026-05-01 api_requests  0", "b 2026-05-01 cpu_seconds  0",
			"b 2026-05-01 input_tokens a/m 4", "b 2026-05-01 input_tokens z/m 0",
			"b 2026-05-01 memory_gib_hours  0",
			"b 2026-05-01 model_calls a/m 1", "b 2026-05-01 model_calls z/m 2",
			"b 2026-05-01 output_tokens a/m 5", "b 2026-05-01 output_tokens z/m 0",
			"b 2026-05-01 skills_executed  0", "b 2026-05-01 storage_bytes  0",
			"b 2026-05-02 api_requests  0", "b 2026-05-02 cpu_seconds  0", "b 2026-05-02 input_tokens z/m 2",
			"b 2026-05-02 memory_gib_hours  0", "b 2026-05-02 model_calls z/m 1", "b 2026-05-02 output_tokens z/m 3",
			"b 2026-05-02 skills_executed  0", "b 2026-05-02 storage_bytes  0",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("export:\n%s\nwant:\n%s", join(got), join(want))
		}
	})
}

func join(s []string) string {
	var b bytes.Buffer
	for _, x := range s {
		b.WriteString(x + "\n")
	}
	return b.String()
}

func TestReportAnyHoursAndStorageAcrossBatches(t *testing.T) {
	// Storage samples of the same hours arrive in many batches, in no
	// order: the daily rows must still hold each hour's largest sample once.
	// Queries with bounds inside days read daily and hourly roll-ups
	// together; all must agree with the events.
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		r := mrand.New(mrand.NewPCG(13, 14))
		start := time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC)
		evs := randomEvents(r, "s", 3000, 3, 4, start)
		for i := range 1500 {
			evs = append(evs, Event{ID: "st-" + strconv.Itoa(i), Namespace: "ns-" + strconv.Itoa(r.IntN(3)),
				Time: start.Add(time.Duration(r.IntN(4*24*60)) * time.Minute), StorageBytes: 1 + r.Int64N(10<<30)})
		}
		r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		for off := 0; off < len(evs); off += 97 {
			mustWrite(t, l, evs[off:min(off+97, len(evs))])
		}
		qs := []Query{month(t, "2026-05"), {Start: start.Add(5 * time.Hour), End: start.Add(77 * time.Hour)}}
		for range 20 {
			a, b := r.IntN(5*24), r.IntN(5*24)
			if a == b {
				continue
			}
			qs = append(qs, Query{Start: start.Add(time.Duration(min(a, b)) * time.Hour), End: start.Add(time.Duration(max(a, b)) * time.Hour)})
		}
		for _, q := range qs {
			sameUsage(t, mustReport(t, l, q), expected(evs, q))
			q.Namespace = "ns-1"
			sameUsage(t, mustReport(t, l, q), expected(evs, q))
		}
	})
}

func TestOpenRefusesWhatItCannotUse(t *testing.T) {
	for _, o := range []Options{
		{},
		{DSN: "mysql://root@localhost/clawd"},
		{DSN: "/var/lib/clawd/ledger.db"},
	} {
		if l, err := Open(context.Background(), o); err == nil {
			l.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
	// A password does not end up in the error.
	_, err := Open(context.Background(), Options{DSN: "mysql://u:secret@h/db"})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v shows the password", err)
	}
}
