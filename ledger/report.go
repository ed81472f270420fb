package ledger

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Query selects roll-ups: Namespace ("" = all) and the hours starting in
// [Start, End), UTC. Roll-ups have hour resolution: bounds inside an hour
// take or leave that whole hour (ParsePeriod gives whole days).
type Query struct {
	Namespace  string
	Start, End time.Time
}

func (q Query) check() error {
	if q.Start.IsZero() || q.End.IsZero() || !q.End.After(q.Start) {
		return fmt.Errorf("usage query: want a start before the end, got %s..%s", q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339))
	}
	return nil
}

// where is the roll-up filter of q, with its arguments.
func (q Query) where(alias string) (string, []any) {
	s := " WHERE " + alias + "hour >= ? AND " + alias + "hour < ?"
	args := []any{q.Start.Unix(), q.End.Unix()}
	if q.Namespace != "" {
		s += " AND " + alias + "namespace = ?"
		args = append(args, q.Namespace)
	}
	return s, args
}

// Usage is one namespace's usage over a period.
type Usage struct {
	Namespace string

	APIRequests, Calls, InputTokens, OutputTokens, SkillsExecuted int64

	TokensByModel map[string]int64 // input+output per model ("" = events without a model)
	CallsByModel  map[string]int64

	CPUSeconds, MemoryGiBHours float64

	StorageBytes    int64   // the latest sampled hour's largest sample in the period (the current size)
	StorageGiBHours float64 // Σ over sampled hours of the hour's largest sample, in GiB·h (price per GiB-month)
}

// TokensUsed is input plus output tokens.
func (u Usage) TokensUsed() int64 { return u.InputTokens + u.OutputTokens }

const (
	microsPerSecond   = 1e6
	mibSecondsPerGiBh = 1024 * 3600
	bytesPerGiB       = 1 << 30
)

// Report sums the hourly roll-ups of q: one Usage per namespace with any
// usage in the period, sorted by namespace.
func (l *Ledger) Report(ctx context.Context, q Query) ([]Usage, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	by := map[string]*Usage{}
	get := func(ns string) *Usage {
		u := by[ns]
		if u == nil {
			u = &Usage{Namespace: ns, TokensByModel: map[string]int64{}, CallsByModel: map[string]int64{}}
			by[ns] = u
		}
		return u
	}

	where, args := q.where("")
	rows, err := l.r.QueryContext(ctx, l.rebind(`SELECT namespace, model,
		CAST(SUM(api_requests) AS BIGINT), CAST(SUM(calls) AS BIGINT),
		CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT),
		CAST(SUM(skills_executed) AS BIGINT), CAST(SUM(cpu_micros) AS BIGINT),
		CAST(SUM(memory_mib_seconds) AS BIGINT)
		FROM rollup_hourly`+where+` GROUP BY namespace, model`), args...)
	if err != nil {
		return nil, fmt.Errorf("usage report: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ns, model string
		var c counts
		if err := rows.Scan(&ns, &model, &c.apiRequests, &c.calls, &c.inputTokens, &c.outputTokens,
			&c.skills, &c.cpuMicros, &c.memMiBSeconds); err != nil {
			return nil, fmt.Errorf("usage report: %w", err)
		}
		u := get(ns)
		u.APIRequests += c.apiRequests
		u.Calls += c.calls
		u.InputTokens += c.inputTokens
		u.OutputTokens += c.outputTokens
		u.SkillsExecuted += c.skills
		u.CPUSeconds += float64(c.cpuMicros) // µs until converted below
		u.MemoryGiBHours += float64(c.memMiBSeconds)
		if t := c.inputTokens + c.outputTokens; t != 0 || model != "" {
			u.TokensByModel[model] += t
		}
		if c.calls != 0 || model != "" {
			u.CallsByModel[model] += c.calls
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage report: %w", err)
	}
	rows.Close()

	// Storage is a gauge: each hour counts with its largest sample, and the
	// current size is the latest sampled hour's.
	sw, sargs := q.where("")
	rows, err = l.r.QueryContext(ctx, l.rebind(`WITH h AS (
			SELECT namespace, hour, MAX(storage_max) AS s FROM rollup_hourly`+sw+` AND storage_max > 0
			GROUP BY namespace, hour),
		latest AS (SELECT namespace, MAX(hour) AS hour FROM h GROUP BY namespace)
		SELECT h.namespace, CAST(SUM(h.s) AS BIGINT), MAX(CASE WHEN h.hour = latest.hour THEN h.s ELSE 0 END)
		FROM h JOIN latest ON latest.namespace = h.namespace GROUP BY h.namespace`), sargs...)
	if err != nil {
		return nil, fmt.Errorf("usage report: storage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ns string
		var sum, cur int64
		if err := rows.Scan(&ns, &sum, &cur); err != nil {
			return nil, fmt.Errorf("usage report: storage: %w", err)
		}
		u := get(ns)
		u.StorageBytes = cur
		u.StorageGiBHours = float64(sum) / bytesPerGiB
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage report: storage: %w", err)
	}

	out := make([]Usage, 0, len(by))
	for _, u := range by {
		u.CPUSeconds /= microsPerSecond
		u.MemoryGiBHours /= mibSecondsPerGiBh
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out, nil
}
