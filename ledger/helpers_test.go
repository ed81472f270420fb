package ledger

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/internal/testenv"
	"github.com/hashicorp/go-hclog"
)

// postgresDSNEnv names the server the PostgreSQL runs use
// (scripts/postgres.sh starts one and prints it).
const postgresDSNEnv = "CLAWD_TEST_POSTGRES_DSN"

// eachBackend runs fn once on a fresh SQLite ledger and once on a fresh
// PostgreSQL schema: the same test, both backends.
func eachBackend(t *testing.T, fn func(t *testing.T, o Options)) {
	t.Run(BackendSQLite, func(t *testing.T) { fn(t, sqliteOptions(t)) })
	t.Run(BackendPostgres, func(t *testing.T) { fn(t, postgresOptions(t)) })
}

func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Warn, Output: os.Stderr})
}

func sqliteOptions(t testing.TB) Options {
	return Options{Dir: t.TempDir(), Logger: testLogger(t)}
}

// postgresOptions makes a schema of its own for t and returns a DSN whose
// search_path puts the ledger's tables there; the schema goes at cleanup.
func postgresOptions(t testing.TB) Options {
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		testenv.Missing(t, "%s is not set: run `eval \"$(bash scripts/postgres.sh)\"` for a PostgreSQL server", postgresDSNEnv)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		testenv.Missing(t, "PostgreSQL at %s does not answer: %v", redact(dsn), err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "ledger_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Logf("dropping test schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return Options{DSN: u.String(), Logger: testLogger(t)}
}

func open(t testing.TB, o Options) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustWrite(t testing.TB, l *Ledger, evs []Event) int {
	t.Helper()
	n, err := l.Write(context.Background(), evs)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return n
}

func mustReport(t testing.TB, l *Ledger, q Query) []Usage {
	t.Helper()
	us, err := l.Report(context.Background(), q)
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	return us
}

// t0 is a fixed instant inside May 2026.
var t0 = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)

var models = []string{"openai/gpt-5", "anthropic/claude-opus-4", "google/gemini-3", ""}

// randomEvents makes n events over namespaces ns-0…ns-(nsCount-1) and
// `days` days from start, with unique ids.
func randomEvents(r *mrand.Rand, prefix string, n, nsCount, days int, start time.Time) []Event {
	evs := make([]Event, n)
	for i := range evs {
		e := Event{
			ID:        fmt.Sprintf("%s-%d", prefix, i),
			Time:      start.Add(time.Duration(r.Int64N(int64(days) * int64(24*time.Hour)))),
			Namespace: fmt.Sprintf("ns-%d", r.IntN(nsCount)),
		}
		switch r.IntN(4) {
		case 0, 1:
			e.Model = models[r.IntN(3)]
			e.Calls = 1
			e.InputTokens = r.Int64N(5000)
			e.OutputTokens = r.Int64N(2000)
		case 2:
			e.APIRequests = 1 + r.Int64N(3)
			e.SkillsExecuted = r.Int64N(2)
		case 3:
			e.CPUMicros = r.Int64N(2_000_000)
			e.MemoryMiBSeconds = r.Int64N(512 * 10)
			e.StorageBytes = r.Int64N(5 << 30)
		}
		evs[i] = e
	}
	return evs
}

// expected computes what Report must say of evs (already free of
// duplicates) for q, the slow and obvious way.
func expected(evs []Event, q Query) []Usage {
	by := map[string]*Usage{}
	cpu, mem := map[string]int64{}, map[string]int64{}
	hourMax := map[string]map[int64]int64{}
	for _, e := range evs {
		h := hourOf(e.Time)
		if h < q.Start.Unix() || h >= q.End.Unix() || (q.Namespace != "" && e.Namespace != q.Namespace) {
			continue
		}
		u := by[e.Namespace]
		if u == nil {
			u = &Usage{Namespace: e.Namespace, TokensByModel: map[string]int64{}, CallsByModel: map[string]int64{}}
			by[e.Namespace] = u
			hourMax[e.Namespace] = map[int64]int64{}
		}
		u.APIRequests += e.APIRequests
		u.Calls += e.Calls
		u.InputTokens += e.InputTokens
		u.OutputTokens += e.OutputTokens
		u.SkillsExecuted += e.SkillsExecuted
		if e.Model != "" || e.InputTokens+e.OutputTokens != 0 {
			u.TokensByModel[e.Model] += e.InputTokens + e.OutputTokens
		}
		if e.Model != "" || e.Calls != 0 {
			u.CallsByModel[e.Model] += e.Calls
		}
		cpu[e.Namespace] += e.CPUMicros
		mem[e.Namespace] += e.MemoryMiBSeconds
		if e.StorageBytes > 0 {
			hourMax[e.Namespace][h] = max(hourMax[e.Namespace][h], e.StorageBytes)
		}
	}
	var out []Usage
	for ns, u := range by {
		u.CPUSeconds = float64(cpu[ns]) / 1e6
		u.MemoryGiBHours = float64(mem[ns]) / (1024 * 3600)
		var sum, latest int64 = 0, -1
		for h, s := range hourMax[ns] {
			sum += s
			if h > latest {
				latest, u.StorageBytes = h, s
			}
		}
		u.StorageGiBHours = float64(sum) / (1 << 30)
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out
}

// sameUsage compares two reports; floats to a relative 1e-12 (they are
// conversions of the same integers, possibly summed in another order).
func sameUsage(t *testing.T, got, want []Usage) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("report has %d namespaces, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		ints := [][3]any{
			{"api_requests", g.APIRequests, w.APIRequests}, {"calls", g.Calls, w.Calls},
			{"input_tokens", g.InputTokens, w.InputTokens}, {"output_tokens", g.OutputTokens, w.OutputTokens},
			{"skills", g.SkillsExecuted, w.SkillsExecuted}, {"storage_bytes", g.StorageBytes, w.StorageBytes},
		}
		if g.Namespace != w.Namespace {
			t.Errorf("row %d: namespace %q, want %q", i, g.Namespace, w.Namespace)
		}
		for _, c := range ints {
			if c[1] != c[2] {
				t.Errorf("%s %s = %v, want %v", w.Namespace, c[0], c[1], c[2])
			}
		}
		for _, c := range [][3]any{{"cpu_seconds", g.CPUSeconds, w.CPUSeconds}, {"memory_gib_hours", g.MemoryGiBHours, w.MemoryGiBHours}, {"storage_gib_hours", g.StorageGiBHours, w.StorageGiBHours}} {
			a, b := c[1].(float64), c[2].(float64)
			if d := a - b; d > 1e-9*max(1, b) || -d > 1e-9*max(1, b) {
				t.Errorf("%s %s = %v, want %v", w.Namespace, c[0], a, b)
			}
		}
		if fmt.Sprint(g.TokensByModel) != fmt.Sprint(w.TokensByModel) {
			t.Errorf("%s tokens by model = %v, want %v", w.Namespace, g.TokensByModel, w.TokensByModel)
		}
		if fmt.Sprint(g.CallsByModel) != fmt.Sprint(w.CallsByModel) {
			t.Errorf("%s calls by model = %v, want %v", w.Namespace, g.CallsByModel, w.CallsByModel)
		}
		if g.TokensUsed() != w.InputTokens+w.OutputTokens {
			t.Errorf("%s TokensUsed = %d", w.Namespace, g.TokensUsed())
		}
	}
}

// rawCount is the number of raw events kept.
func rawCount(t testing.TB, l *Ledger) int64 {
	t.Helper()
	var n int64
	if err := l.w.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func month(t testing.TB, s string) Query {
	start, end, err := ParsePeriod(s)
	if err != nil {
		t.Fatal(err)
	}
	return Query{Start: start, End: end}
}
