package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// eventKey is what an event claims: its id within its UTC day.
type eventKey struct {
	day int64
	id  string
}

// groupKey is one roll-up row.
type groupKey struct {
	namespace string
	hour      int64
	model     string
}

// counts are one roll-up row's meters.
type counts struct {
	apiRequests, calls, inputTokens, outputTokens, skills, cpuMicros, memMiBSeconds, storageMax int64
}

func (c *counts) add(e *Event) {
	c.apiRequests += e.APIRequests
	c.calls += e.Calls
	c.inputTokens += e.InputTokens
	c.outputTokens += e.OutputTokens
	c.skills += e.SkillsExecuted
	c.cpuMicros += e.CPUMicros
	c.memMiBSeconds += e.MemoryMiBSeconds
	c.storageMax = max(c.storageMax, e.StorageBytes)
}

// Write records evs in one transaction and returns how many were new. The
// claim of each (day, ID) and the roll-up increments it causes commit
// together, so writing the same events again (a retry after an error, even
// one whose commit did succeed) inserts and counts nothing twice. An event
// of a day already dropped by Retain is refused (not counted): its id may
// be gone. When Write returns nil, the events are durable.
func (l *Ledger) Write(ctx context.Context, evs []Event) (inserted int, err error) {
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			return 0, fmt.Errorf("writing usage: event %d: %w", i, err)
		}
	}
	batch := dedupe(evs)
	if len(batch) == 0 {
		return 0, nil
	}
	if l.backend == BackendPostgres {
		horizon, err := l.horizon(ctx, l.w)
		if err != nil {
			return 0, err
		}
		if err := l.ensurePartitions(ctx, batch, horizon); err != nil {
			return 0, err
		}
	}
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("writing usage: %w", err)
	}
	defer tx.Rollback()
	horizon, err := l.horizon(ctx, tx)
	if err != nil {
		return 0, err
	}
	live := batch[:0:0]
	for _, e := range batch {
		if dayOf(e.Time) >= horizon {
			live = append(live, e)
		}
	}
	if n := len(batch) - len(live); n > 0 {
		l.log.Warn("usage events older than the retention horizon refused", "events", n, "horizon", dayString(horizon))
	}
	var new []*Event
	if l.backend == BackendPostgres {
		new, err = l.insertPostgres(ctx, tx, live)
	} else {
		new, err = l.insertSQLite(ctx, tx, live)
	}
	if err != nil {
		if l.backend == BackendPostgres && isNoPartition(err) {
			l.forgetPartitions()
		}
		return 0, fmt.Errorf("writing usage: %w", err)
	}
	if err := l.rollUp(ctx, tx, new); err != nil {
		return 0, fmt.Errorf("writing usage: rolling up: %w", err)
	}
	if l.beforeCommit != nil {
		if err := l.beforeCommit(); err != nil {
			return 0, fmt.Errorf("writing usage: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("writing usage: commit: %w", err)
	}
	if l.afterCommit != nil {
		if err := l.afterCommit(); err != nil {
			return 0, fmt.Errorf("writing usage: %w", err)
		}
	}
	return len(new), nil
}

// dedupe keeps the first event of each (day, ID): the database would keep
// that one too, and the roll-up must see only what it keeps.
func dedupe(evs []Event) []*Event {
	seen := make(map[eventKey]struct{}, len(evs))
	out := make([]*Event, 0, len(evs))
	for i := range evs {
		k := eventKey{dayOf(evs[i].Time), evs[i].ID}
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, &evs[i])
	}
	return out
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// horizon is the first UTC day whose raw events are still kept.
func (l *Ledger) horizon(ctx context.Context, q querier) (int64, error) {
	var d int64
	if err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'retained_before_day'`).Scan(&d); err != nil {
		return 0, fmt.Errorf("reading the retention horizon: %w", err)
	}
	return d, nil
}

const insertColumns = `day, id, ts_micros, namespace, model, api_requests, calls, input_tokens,
	output_tokens, skills_executed, cpu_micros, memory_mib_seconds, storage_bytes`

func (l *Ledger) insertSQLite(ctx context.Context, tx *sql.Tx, batch []*Event) ([]*Event, error) {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (`+insertColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var new []*Event
	for _, e := range batch {
		res, err := stmt.ExecContext(ctx, dayOf(e.Time), e.ID, e.Time.UnixMicro(), e.Namespace, e.Model,
			e.APIRequests, e.Calls, e.InputTokens, e.OutputTokens, e.SkillsExecuted,
			e.CPUMicros, e.MemoryMiBSeconds, e.StorageBytes)
		if err != nil {
			return nil, fmt.Errorf("inserting event %s: %w", e.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 1 {
			new = append(new, e)
		}
	}
	return new, nil
}

// insertPostgres inserts the whole batch in one statement from arrays; the
// rows RETURNING names are the ones this transaction claimed.
func (l *Ledger) insertPostgres(ctx context.Context, tx *sql.Tx, batch []*Event) ([]*Event, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	n := len(batch)
	days, ts := make([]int64, n), make([]int64, n)
	ids, nss, models := make([]string, n), make([]string, n), make([]string, n)
	var c [8][]int64
	for i := range c {
		c[i] = make([]int64, n)
	}
	byKey := make(map[eventKey]*Event, n)
	for i, e := range batch {
		days[i], ids[i], ts[i], nss[i], models[i] = dayOf(e.Time), e.ID, e.Time.UnixMicro(), e.Namespace, e.Model
		c[0][i], c[1][i], c[2][i], c[3][i] = e.APIRequests, e.Calls, e.InputTokens, e.OutputTokens
		c[4][i], c[5][i], c[6][i], c[7][i] = e.SkillsExecuted, e.CPUMicros, e.MemoryMiBSeconds, e.StorageBytes
		byKey[eventKey{days[i], e.ID}] = e
	}
	rows, err := tx.QueryContext(ctx, `INSERT INTO events (`+insertColumns+`)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[],
			$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[])
		ON CONFLICT DO NOTHING RETURNING day, id`,
		days, ids, ts, nss, models, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7])
	if err != nil {
		return nil, fmt.Errorf("inserting %d events: %w", n, err)
	}
	defer rows.Close()
	var new []*Event
	for rows.Next() {
		var k eventKey
		if err := rows.Scan(&k.day, &k.id); err != nil {
			return nil, err
		}
		e, ok := byKey[k]
		if !ok {
			return nil, fmt.Errorf("inserting events: the database returned an unknown event %d/%s", k.day, k.id)
		}
		new = append(new, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inserting %d events: %w", n, err)
	}
	return new, nil
}

// rollUp adds the inserted events to their hourly roll-ups: summed in
// memory first, then one upsert per (namespace, hour, model), in key order so
// that two nodes writing the same rows lock them in the same order.
func (l *Ledger) rollUp(ctx context.Context, tx *sql.Tx, new []*Event) error {
	if len(new) == 0 {
		return nil
	}
	groups := map[groupKey]*counts{}
	for _, e := range new {
		k := groupKey{e.Namespace, hourOf(e.Time), e.Model}
		c := groups[k]
		if c == nil {
			c = &counts{}
			groups[k] = c
		}
		c.add(e)
	}
	keys := make([]groupKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		if a.hour != b.hour {
			return a.hour < b.hour
		}
		return a.model < b.model
	})
	greatest := "MAX" // SQLite's two-argument MAX is PostgreSQL's GREATEST
	if l.backend == BackendPostgres {
		greatest = "GREATEST"
	}
	const cols = `namespace, hour, model, api_requests, calls, input_tokens, output_tokens,
		skills_executed, cpu_micros, memory_mib_seconds, storage_max`
	conflict := ` ON CONFLICT (namespace, hour, model) DO UPDATE SET
		api_requests = rollup_hourly.api_requests + excluded.api_requests,
		calls = rollup_hourly.calls + excluded.calls,
		input_tokens = rollup_hourly.input_tokens + excluded.input_tokens,
		output_tokens = rollup_hourly.output_tokens + excluded.output_tokens,
		skills_executed = rollup_hourly.skills_executed + excluded.skills_executed,
		cpu_micros = rollup_hourly.cpu_micros + excluded.cpu_micros,
		memory_mib_seconds = rollup_hourly.memory_mib_seconds + excluded.memory_mib_seconds,
		storage_max = ` + greatest + `(rollup_hourly.storage_max, excluded.storage_max)`

	if l.backend == BackendPostgres {
		n := len(keys)
		nss, models, hours := make([]string, n), make([]string, n), make([]int64, n)
		var c [8][]int64
		for i := range c {
			c[i] = make([]int64, n)
		}
		for i, k := range keys {
			g := groups[k]
			nss[i], hours[i], models[i] = k.namespace, k.hour, k.model
			c[0][i], c[1][i], c[2][i], c[3][i] = g.apiRequests, g.calls, g.inputTokens, g.outputTokens
			c[4][i], c[5][i], c[6][i], c[7][i] = g.skills, g.cpuMicros, g.memMiBSeconds, g.storageMax
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO rollup_hourly (`+cols+`)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
				$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])`+conflict,
			nss, hours, models, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7])
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO rollup_hourly (`+cols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+conflict)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, k := range keys {
		g := groups[k]
		if _, err := stmt.ExecContext(ctx, k.namespace, k.hour, k.model, g.apiRequests, g.calls,
			g.inputTokens, g.outputTokens, g.skills, g.cpuMicros, g.memMiBSeconds, g.storageMax); err != nil {
			return err
		}
	}
	return nil
}

// ensurePartitions creates the day partitions batch needs (PostgreSQL), out
// of the write transaction so that no write holds the DDL lock on events.
// Days before the retention horizon get none: their events are refused.
func (l *Ledger) ensurePartitions(ctx context.Context, batch []*Event, horizon int64) error {
	l.partMu.Lock()
	var need []int64
	seen := map[int64]bool{}
	for _, e := range batch {
		d := dayOf(e.Time)
		if d >= horizon && !l.parts[d] && !seen[d] {
			seen[d] = true
			need = append(need, d)
		}
	}
	l.partMu.Unlock()
	for _, d := range need {
		stmt := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF events FOR VALUES FROM (%d) TO (%d)`,
			partitionName(d), d, d+1)
		if _, err := l.w.ExecContext(ctx, stmt); err != nil && !isDuplicateTable(err) {
			return fmt.Errorf("creating the usage partition of %s: %w", dayString(d), err)
		}
		l.partMu.Lock()
		l.parts[d] = true
		l.partMu.Unlock()
	}
	return nil
}

func (l *Ledger) forgetPartitions() {
	l.partMu.Lock()
	l.parts = map[int64]bool{}
	l.partMu.Unlock()
}

// partitionName is the PostgreSQL table of day d's raw events.
func partitionName(d int64) string {
	return "events_" + strings.ReplaceAll(dayString(d), "-", "")
}

// isDuplicateTable: two nodes created the same partition at once (IF NOT
// EXISTS does not cover the race).
func isDuplicateTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P07" || pe.Code == "23505")
}

// isNoPartition: the day's partition was dropped under us (by Retain on
// another node); the next attempt recreates or refuses it.
func isNoPartition(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514"
}
