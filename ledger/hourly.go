package ledger

import (
	"context"
	"fmt"
	"time"
)

// Hour is one namespace's roll-ups of one UTC hour, summed over models:
// what billing sends as usage for that hour.
type Hour struct {
	Namespace string
	Hour      time.Time // the hour's start, UTC

	APIRequests, Calls, InputTokens, OutputTokens int64
	StorageMax                                    int64 // the hour's largest storage sample, bytes
}

// Hours returns the roll-ups of the UTC hours starting in [from, to), one
// per (namespace, hour) with any usage, ordered by hour then namespace. A
// caller that keeps the next hour to handle as a cursor passes it as from;
// leaving out an hour still being written to is the caller's business.
func (l *Ledger) Hours(ctx context.Context, from, to time.Time) ([]Hour, error) {
	if !to.After(from) {
		return nil, nil
	}
	rows, err := l.r.QueryContext(ctx, l.rebind(`SELECT namespace, hour,
		CAST(SUM(api_requests) AS BIGINT), CAST(SUM(calls) AS BIGINT),
		CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT),
		CAST(MAX(storage_max) AS BIGINT)
		FROM rollup_hourly WHERE hour >= ? AND hour < ?
		GROUP BY namespace, hour ORDER BY hour, namespace`), from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("reading hourly usage: %w", err)
	}
	defer rows.Close()
	var out []Hour
	for rows.Next() {
		var h Hour
		var hour int64
		if err := rows.Scan(&h.Namespace, &hour, &h.APIRequests, &h.Calls, &h.InputTokens, &h.OutputTokens, &h.StorageMax); err != nil {
			return nil, fmt.Errorf("reading hourly usage: %w", err)
		}
		h.Hour = time.Unix(hour, 0).UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading hourly usage: %w", err)
	}
	return out, nil
}
