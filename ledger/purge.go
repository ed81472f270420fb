package ledger

import (
	"context"
	"fmt"
	"time"
)

// PurgeResult counts a namespace's ledger rows older than a cutoff: raw
// events, hourly and daily roll-ups.
type PurgeResult struct {
	Events int64 `json:"events"`
	Hourly int64 `json:"hourly"`
	Daily  int64 `json:"daily"`
}

// Rows is the sum of the three.
func (p PurgeResult) Rows() int64 { return p.Events + p.Hourly + p.Daily }

// PurgeNamespace deletes (or with dryRun only counts) one namespace's
// ledger rows wholly before cutoff: raw events stamped before it, hourly
// roll-ups whose hour ended by it and daily roll-ups whose UTC day ended by
// it (namespaces.<ns>.dataRetention.metrics). Unlike Retain, which drops
// every namespace's raw events by day, this also removes roll-ups, so the
// namespace's reports and invoices for those periods read zero afterwards.
// Each table is one statement in its own transaction.
func (l *Ledger) PurgeNamespace(ctx context.Context, ns string, cutoff time.Time, dryRun bool) (PurgeResult, error) {
	var res PurgeResult
	steps := []struct {
		table, cond string
		arg         int64
		n           *int64
	}{
		{"events", "ts_micros < ?", cutoff.UnixMicro(), &res.Events},
		{"rollup_hourly", "hour <= ?", cutoff.Unix() - 3600, &res.Hourly},
		{"rollup_daily", "day <= ?", floorDiv(cutoff.Unix(), secondsPerDay) - 1, &res.Daily},
	}
	for _, s := range steps {
		where := ` FROM ` + s.table + ` WHERE namespace = ? AND ` + s.cond
		if dryRun {
			if err := l.r.QueryRowContext(ctx, l.rebind(`SELECT count(*)`+where), ns, s.arg).Scan(s.n); err != nil {
				return res, fmt.Errorf("counting %s's %s: %w", ns, s.table, err)
			}
			continue
		}
		r, err := l.w.ExecContext(ctx, l.rebind(`DELETE`+where), ns, s.arg)
		if err != nil {
			return res, fmt.Errorf("deleting %s's %s: %w", ns, s.table, err)
		}
		*s.n, _ = r.RowsAffected()
	}
	if !dryRun && res.Rows() > 0 && l.backend != BackendPostgres {
		if _, err := l.w.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
			return res, fmt.Errorf("vacuum after purging %s: %w", ns, err)
		}
	}
	return res, nil
}
