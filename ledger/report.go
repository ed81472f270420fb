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

// span is a part of a query read from one roll-up table: the rows whose
// time column is in [lo, hi).
type span struct {
	table, col string
	lo, hi     int64
	// The storage columns: the sum of hourly maxima (byte-hours), and the
	// latest sampled hour with its largest sample.
	byteHours, lastHour, last string
}

// spans splits q into whole UTC days, read from the daily roll-ups, and the
// hours before the first and after the last whole day, read from the
// hourly ones.
func (q Query) spans() []span {
	hours := func(lo, hi int64) span {
		return span{table: "rollup_hourly", col: "hour", lo: lo, hi: hi,
			byteHours: "storage_max", lastHour: "hour", last: "storage_max"}
	}
	lo, hi := q.Start.Unix(), q.End.Unix()
	d0 := floorDiv(lo+secondsPerDay-1, secondsPerDay) // the first whole day
	d1 := floorDiv(hi, secondsPerDay)                 // the day after the last whole one
	if d0 >= d1 {
		return []span{hours(lo, hi)}
	}
	out := []span{{table: "rollup_daily", col: "day", lo: d0, hi: d1,
		byteHours: "storage_byte_hours", lastHour: "storage_last_hour", last: "storage_last"}}
	if lo < d0*secondsPerDay {
		out = append(out, hours(lo, d0*secondsPerDay))
	}
	if hi > d1*secondsPerDay {
		out = append(out, hours(d1*secondsPerDay, hi))
	}
	return out
}

// where is the filter of s and q's namespace, with its arguments.
func (s span) where(q Query) (string, []any) {
	w := " WHERE " + s.col + " >= ? AND " + s.col + " < ?"
	args := []any{s.lo, s.hi}
	if q.Namespace != "" {
		w += " AND namespace = ?"
		args = append(args, q.Namespace)
	}
	return w, args
}

// Report sums the roll-ups of q (daily ones for whole days, hourly ones for
// the hours around them): one Usage per namespace with any usage in the
// period, sorted by namespace.
func (l *Ledger) Report(ctx context.Context, q Query) ([]Usage, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	by := map[string]*Usage{}
	type acc struct{ cpu, mem, byteHours, lastHour int64 }
	accs := map[string]*acc{}
	get := func(ns string) (*Usage, *acc) {
		u := by[ns]
		if u == nil {
			u = &Usage{Namespace: ns, TokensByModel: map[string]int64{}, CallsByModel: map[string]int64{}}
			by[ns] = u
			accs[ns] = &acc{lastHour: -1}
		}
		return u, accs[ns]
	}
	for _, s := range q.spans() {
		where, args := s.where(q)
		rows, err := l.r.QueryContext(ctx, l.rebind(`SELECT namespace, model,
			CAST(SUM(api_requests) AS BIGINT), CAST(SUM(calls) AS BIGINT),
			CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT),
			CAST(SUM(skills_executed) AS BIGINT), CAST(SUM(cpu_micros) AS BIGINT),
			CAST(SUM(memory_mib_seconds) AS BIGINT), CAST(SUM(`+s.byteHours+`) AS BIGINT)
			FROM `+s.table+where+` GROUP BY namespace, model`), args...)
		if err != nil {
			return nil, fmt.Errorf("usage report: %w", err)
		}
		for rows.Next() {
			var ns, model string
			var c counts
			var byteHours int64
			if err := rows.Scan(&ns, &model, &c.apiRequests, &c.calls, &c.inputTokens, &c.outputTokens,
				&c.skills, &c.cpuMicros, &c.memMiBSeconds, &byteHours); err != nil {
				rows.Close()
				return nil, fmt.Errorf("usage report: %w", err)
			}
			u, a := get(ns)
			u.APIRequests += c.apiRequests
			u.Calls += c.calls
			u.InputTokens += c.inputTokens
			u.OutputTokens += c.outputTokens
			u.SkillsExecuted += c.skills
			a.cpu += c.cpuMicros
			a.mem += c.memMiBSeconds
			a.byteHours += byteHours
			if t := c.inputTokens + c.outputTokens; t != 0 || model != "" {
				u.TokensByModel[model] += t
			}
			if c.calls != 0 || model != "" {
				u.CallsByModel[model] += c.calls
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("usage report: %w", err)
		}

		// The current size: the latest sampled hour's largest sample.
		rows, err = l.r.QueryContext(ctx, l.rebind(`SELECT s.namespace, s.h, s.v FROM
			(SELECT namespace, `+s.lastHour+` AS h, `+s.last+` AS v FROM `+s.table+where+` AND model = '' AND `+s.last+` > 0) AS s
			JOIN (SELECT namespace, MAX(`+s.lastHour+`) AS h FROM `+s.table+where+` AND model = '' AND `+s.last+` > 0
				GROUP BY namespace) AS m ON m.namespace = s.namespace AND m.h = s.h`), append(args, args...)...)
		if err != nil {
			return nil, fmt.Errorf("usage report: storage: %w", err)
		}
		for rows.Next() {
			var ns string
			var h, v int64
			if err := rows.Scan(&ns, &h, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("usage report: storage: %w", err)
			}
			u, a := get(ns)
			if h > a.lastHour {
				a.lastHour, u.StorageBytes = h, v
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("usage report: storage: %w", err)
		}
	}

	out := make([]Usage, 0, len(by))
	for ns, u := range by {
		a := accs[ns]
		u.CPUSeconds = float64(a.cpu) / microsPerSecond
		u.MemoryGiBHours = float64(a.mem) / mibSecondsPerGiBh
		u.StorageGiBHours = float64(a.byteHours) / bytesPerGiB
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out, nil
}
