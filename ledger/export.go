package ledger

import (
	"context"
	"fmt"
	"sort"
)

// Meter names of export rows.
const (
	MeterAPIRequests    = "api_requests"
	MeterModelCalls     = "model_calls"   // per model
	MeterInputTokens    = "input_tokens"  // per model
	MeterOutputTokens   = "output_tokens" // per model
	MeterSkillsExecuted = "skills_executed"
	MeterCPUSeconds     = "cpu_seconds"
	MeterMemoryGiBHours = "memory_gib_hours"
	MeterStorageBytes   = "storage_bytes" // the day's largest sample, not a sum
)

// Row is one exported figure: a namespace's meter over one UTC day. Value is
// in the meter's unit (a count, seconds, GiB·h, bytes); counts are whole
// numbers, exact in a float64 up to 2^53.
type Row struct {
	Namespace string
	Day       string // 2006-01-02
	Meter     string
	Model     string // the model of model_calls, input_tokens and output_tokens rows; "" otherwise
	Value     float64
}

// Export calls fn with one row per namespace, day and meter (per model for
// model_calls, input_tokens and output_tokens), ordered by namespace, day,
// meter, model, read incrementally from the daily roll-ups in their primary
// key's order: the database streams them and Export holds one namespace-day
// at a time, so a year of a thousand namespaces is never in memory. Export
// has day resolution: it covers the UTC days that start in [Start, End). A namespace-day with any usage
// has a row for each meter that is not per model (zeros included), and one
// per model that had events that day. fn's error stops the export and is
// returned.
func (l *Ledger) Export(ctx context.Context, q Query, fn func(Row) error) error {
	if err := q.check(); err != nil {
		return err
	}
	// Whole days: those that start in [Start, End).
	d0 := floorDiv(q.Start.Unix()+secondsPerDay-1, secondsPerDay)
	d1 := floorDiv(q.End.Unix()+secondsPerDay-1, secondsPerDay)
	where, args := span{col: "day", lo: d0, hi: d1}.where(q)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The primary key's order: no sort, rows flow as they are read.
	rows, err := l.r.QueryContext(ctx, l.rebind(`SELECT namespace, day, model, api_requests, calls,
		input_tokens, output_tokens, skills_executed, cpu_micros, memory_mib_seconds, storage_max
		FROM rollup_daily`+where+` ORDER BY namespace, day, model`), args...)
	if err != nil {
		return fmt.Errorf("usage export: %w", err)
	}
	defer rows.Close()

	var (
		cur struct {
			ns  string
			day int64
		}
		started bool
		day     counts
		perDay  []Row
	)
	flush := func() error {
		if !started {
			return nil
		}
		ds := dayString(cur.day)
		perDay = append(perDay,
			Row{cur.ns, ds, MeterAPIRequests, "", float64(day.apiRequests)},
			Row{cur.ns, ds, MeterSkillsExecuted, "", float64(day.skills)},
			Row{cur.ns, ds, MeterCPUSeconds, "", float64(day.cpuMicros) / microsPerSecond},
			Row{cur.ns, ds, MeterMemoryGiBHours, "", float64(day.memMiBSeconds) / mibSecondsPerGiBh},
			Row{cur.ns, ds, MeterStorageBytes, "", float64(day.storageMax)},
		)
		sort.SliceStable(perDay, func(i, j int) bool {
			if perDay[i].Meter != perDay[j].Meter {
				return perDay[i].Meter < perDay[j].Meter
			}
			return perDay[i].Model < perDay[j].Model
		})
		for _, r := range perDay {
			if err := fn(r); err != nil {
				return err
			}
		}
		perDay, day = perDay[:0], counts{}
		return nil
	}
	for rows.Next() {
		var ns, model string
		var d int64
		var c counts
		if err := rows.Scan(&ns, &d, &model, &c.apiRequests, &c.calls, &c.inputTokens, &c.outputTokens,
			&c.skills, &c.cpuMicros, &c.memMiBSeconds, &c.storageMax); err != nil {
			return fmt.Errorf("usage export: %w", err)
		}
		if !started || ns != cur.ns || d != cur.day {
			if err := flush(); err != nil {
				return err
			}
			cur.ns, cur.day, started = ns, d, true
		}
		day.apiRequests += c.apiRequests
		day.skills += c.skills
		day.cpuMicros += c.cpuMicros
		day.memMiBSeconds += c.memMiBSeconds
		day.storageMax = max(day.storageMax, c.storageMax)
		if model != "" || c.calls != 0 || c.inputTokens != 0 || c.outputTokens != 0 {
			ds := dayString(d)
			perDay = append(perDay,
				Row{ns, ds, MeterModelCalls, model, float64(c.calls)},
				Row{ns, ds, MeterInputTokens, model, float64(c.inputTokens)},
				Row{ns, ds, MeterOutputTokens, model, float64(c.outputTokens)},
			)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("usage export: %w", err)
	}
	return flush()
}
