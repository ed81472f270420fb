package ledger

import (
	"context"
	"database/sql"
	"fmt"
)

// The schema, by version. Times are integers: an event's day is its UTC day
// number, a roll-up's hour the unix time of its UTC hour start. Raw events
// are keyed (day, id): the id is claimed within its day, which is also the
// unit of retention (PostgreSQL: one partition per day).
//
// rollup_hourly has one row per (namespace, hour, model): counters are sums,
// storage_max the hour's largest storage sample (storage is a namespace's
// gauge: it lives in the model "" row). rollup_daily is the same per UTC day,
// kept in the same transaction, so that a report over months reads a row per
// day, not 24: storage_max is the day's largest sample, storage_byte_hours
// the sum over the day's hours of each hour's largest sample (bytes x 1 h),
// and storage_last the largest sample of the day's latest sampled hour
// (storage_last_hour; 0 = no sample that day).
var migrations = []struct {
	sqlite, postgres []string
}{
	{ // 1: events, hourly roll-ups, the retention horizon
		sqlite: []string{
			`CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
			`INSERT INTO meta (key, value) VALUES ('retained_before_day', 0)`,
			`CREATE TABLE events (
				day INTEGER NOT NULL, id TEXT NOT NULL, ts_micros INTEGER NOT NULL,
				namespace TEXT NOT NULL, model TEXT NOT NULL,
				api_requests INTEGER NOT NULL, calls INTEGER NOT NULL,
				input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
				skills_executed INTEGER NOT NULL, cpu_micros INTEGER NOT NULL,
				memory_mib_seconds INTEGER NOT NULL, storage_bytes INTEGER NOT NULL,
				PRIMARY KEY (day, id)) WITHOUT ROWID`,
			`CREATE TABLE rollup_hourly (
				namespace TEXT NOT NULL, hour INTEGER NOT NULL, model TEXT NOT NULL,
				api_requests INTEGER NOT NULL, calls INTEGER NOT NULL,
				input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
				skills_executed INTEGER NOT NULL, cpu_micros INTEGER NOT NULL,
				memory_mib_seconds INTEGER NOT NULL, storage_max INTEGER NOT NULL,
				PRIMARY KEY (namespace, hour, model)) WITHOUT ROWID`,
			`CREATE INDEX rollup_hourly_hour ON rollup_hourly (hour)`,
			`CREATE TABLE rollup_daily (
				namespace TEXT NOT NULL, day INTEGER NOT NULL, model TEXT NOT NULL,
				api_requests INTEGER NOT NULL, calls INTEGER NOT NULL,
				input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
				skills_executed INTEGER NOT NULL, cpu_micros INTEGER NOT NULL,
				memory_mib_seconds INTEGER NOT NULL, storage_max INTEGER NOT NULL,
				storage_byte_hours INTEGER NOT NULL, storage_last_hour INTEGER NOT NULL, storage_last INTEGER NOT NULL,
				PRIMARY KEY (namespace, day, model)) WITHOUT ROWID`,
		},
		postgres: []string{
			`CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)`,
			`INSERT INTO meta (key, value) VALUES ('retained_before_day', 0)`,
			`CREATE TABLE events (
				day BIGINT NOT NULL, id TEXT NOT NULL, ts_micros BIGINT NOT NULL,
				namespace TEXT NOT NULL, model TEXT NOT NULL,
				api_requests BIGINT NOT NULL, calls BIGINT NOT NULL,
				input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
				skills_executed BIGINT NOT NULL, cpu_micros BIGINT NOT NULL,
				memory_mib_seconds BIGINT NOT NULL, storage_bytes BIGINT NOT NULL,
				PRIMARY KEY (day, id)) PARTITION BY RANGE (day)`,
			`CREATE TABLE rollup_hourly (
				namespace TEXT NOT NULL, hour BIGINT NOT NULL, model TEXT NOT NULL,
				api_requests BIGINT NOT NULL, calls BIGINT NOT NULL,
				input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
				skills_executed BIGINT NOT NULL, cpu_micros BIGINT NOT NULL,
				memory_mib_seconds BIGINT NOT NULL, storage_max BIGINT NOT NULL,
				PRIMARY KEY (namespace, hour, model))`,
			`CREATE INDEX rollup_hourly_hour ON rollup_hourly (hour)`,
			`CREATE TABLE rollup_daily (
				namespace TEXT NOT NULL, day BIGINT NOT NULL, model TEXT NOT NULL,
				api_requests BIGINT NOT NULL, calls BIGINT NOT NULL,
				input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
				skills_executed BIGINT NOT NULL, cpu_micros BIGINT NOT NULL,
				memory_mib_seconds BIGINT NOT NULL, storage_max BIGINT NOT NULL,
				storage_byte_hours BIGINT NOT NULL, storage_last_hour BIGINT NOT NULL, storage_last BIGINT NOT NULL,
				PRIMARY KEY (namespace, day, model))`,
		},
	},
}

// SchemaVersion is the schema version this code migrates to.
var SchemaVersion = len(migrations)

// migrate brings the schema to SchemaVersion, one transaction per version.
// Nodes sharing a PostgreSQL database serialize on an advisory lock; SQLite
// serializes on BEGIN IMMEDIATE.
func (l *Ledger) migrate(ctx context.Context) error {
	for {
		done, err := l.migrateOne(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func (l *Ledger) migrateOne(ctx context.Context) (done bool, err error) {
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrating ledger schema: %w", err)
	}
	defer tx.Rollback()
	if l.backend == BackendPostgres {
		// An arbitrary constant: "clawd ledger schema".
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7243519001)`); err != nil {
			return false, fmt.Errorf("migrating ledger schema: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return false, fmt.Errorf("migrating ledger schema: %w", err)
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err {
	case nil:
	case sql.ErrNoRows:
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return false, fmt.Errorf("migrating ledger schema: %w", err)
		}
	default:
		return false, fmt.Errorf("migrating ledger schema: reading version: %w", err)
	}
	if v > SchemaVersion {
		return false, fmt.Errorf("ledger schema version %d is newer than this clawd knows (%d): upgrade clawd", v, SchemaVersion)
	}
	if v == SchemaVersion {
		return true, tx.Commit()
	}
	stmts := migrations[v].sqlite
	if l.backend == BackendPostgres {
		stmts = migrations[v].postgres
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return false, fmt.Errorf("migrating ledger schema to version %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, l.rebind(`UPDATE schema_version SET version = ?`), v+1); err != nil {
		return false, fmt.Errorf("migrating ledger schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrating ledger schema to version %d: %w", v+1, err)
	}
	l.log.Info("ledger schema migrated", "version", v+1)
	return false, nil
}
