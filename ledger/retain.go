package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RetainResult says what Retain dropped.
type RetainResult struct {
	Before time.Time // the first UTC day kept
	Days   int       // days of raw events dropped
	Events int64     // raw events dropped
}

// Retain drops the raw events of every UTC day wholly before before (an
// event of day D is kept while D ≥ before's day) and moves the retention
// horizon there, so later writes of those days are refused rather than
// counted again. The hourly roll-ups are kept: billing reads them.
// PostgreSQL drops whole day partitions. SQLite deletes by day (the
// primary key's prefix) in short transactions that let writers in between,
// then hands the freed pages back with an incremental vacuum, so the file
// does not keep the space.
func (l *Ledger) Retain(ctx context.Context, before time.Time) (RetainResult, error) {
	cut := dayOf(before)
	res := RetainResult{Before: time.Unix(cut*secondsPerDay, 0).UTC()}
	// The horizon moves first, in its own commit: from then on no write adds
	// to the days being dropped.
	if _, err := l.w.ExecContext(ctx, l.rebind(`UPDATE meta SET value = ? WHERE key = 'retained_before_day' AND value < ?`), cut, cut); err != nil {
		return res, fmt.Errorf("retention: moving the horizon: %w", err)
	}
	if l.backend == BackendPostgres {
		return l.retainPostgres(ctx, cut, res)
	}
	return l.retainSQLite(ctx, cut, res)
}

func (l *Ledger) retainPostgres(ctx context.Context, cut int64, res RetainResult) (RetainResult, error) {
	rows, err := l.w.QueryContext(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass ORDER BY c.relname`)
	if err != nil {
		return res, fmt.Errorf("retention: listing partitions: %w", err)
	}
	var old []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return res, fmt.Errorf("retention: listing partitions: %w", err)
		}
		d, err := time.Parse("20060102", strings.TrimPrefix(name, "events_"))
		if err != nil || !strings.HasPrefix(name, "events_") {
			continue // not ours
		}
		if dayOf(d) < cut {
			old = append(old, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("retention: listing partitions: %w", err)
	}
	for _, name := range old {
		tx, err := l.w.BeginTx(ctx, nil)
		if err != nil {
			return res, fmt.Errorf("retention: %w", err)
		}
		var n int64
		// The lock first: a write still inserting into the day finishes
		// before the count, so the count is what the drop removes.
		_, err = tx.ExecContext(ctx, `LOCK TABLE `+name+` IN ACCESS EXCLUSIVE MODE`)
		if err == nil {
			err = tx.QueryRowContext(ctx, `SELECT count(*) FROM `+name).Scan(&n)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `DROP TABLE `+name)
		}
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			tx.Rollback()
			return res, fmt.Errorf("retention: dropping %s: %w", name, err)
		}
		res.Days++
		res.Events += n
		l.log.Info("usage events dropped", "partition", name, "events", n)
	}
	l.forgetPartitions()
	return res, nil
}

// retainChunk bounds how long one SQLite delete holds the writer.
const retainChunk = 20000

func (l *Ledger) retainSQLite(ctx context.Context, cut int64, res RetainResult) (RetainResult, error) {
	rows, err := l.w.QueryContext(ctx, `SELECT DISTINCT day FROM events WHERE day < ? ORDER BY day`, cut)
	if err != nil {
		return res, fmt.Errorf("retention: %w", err)
	}
	var days []int64
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return res, fmt.Errorf("retention: %w", err)
		}
		days = append(days, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("retention: %w", err)
	}
	for _, d := range days {
		var n int64
		for {
			r, err := l.w.ExecContext(ctx, `DELETE FROM events WHERE day = ? AND id IN
				(SELECT id FROM events WHERE day = ? LIMIT ?)`, d, d, retainChunk)
			if err != nil {
				return res, fmt.Errorf("retention: deleting %s: %w", dayString(d), err)
			}
			k, _ := r.RowsAffected()
			n += k
			if k < retainChunk {
				break
			}
		}
		res.Days++
		res.Events += n
		l.log.Info("usage events dropped", "day", dayString(d), "events", n)
	}
	if res.Days > 0 {
		if _, err := l.w.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
			return res, fmt.Errorf("retention: vacuum: %w", err)
		}
	}
	return res, nil
}
