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
	var fresh []*Event
	if l.backend == BackendPostgres {
		fresh, err = l.insertPostgres(ctx, tx, live)
	} else {
		fresh, err = l.insertSQLite(ctx, tx, live)
	}
	if err != nil {
		if l.backend == BackendPostgres && isNoPartition(err) {
			l.forgetPartitions()
		}
		return 0, fmt.Errorf("writing usage: %w", err)
	}
	if err := l.rollUp(ctx, tx, fresh); err != nil {
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
	return len(fresh), nil
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

// sqliteRows is how many events one SQLite INSERT carries (13 parameters
// each): fewer statements, and RETURNING names the ones claimed.
const sqliteRows = 64

func (l *Ledger) insertSQLite(ctx context.Context, tx *sql.Tx, batch []*Event) ([]*Event, error) {
	prepare := func(rows int) (*sql.Stmt, error) {
		return tx.PrepareContext(ctx, `INSERT INTO events (`+insertColumns+`) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", rows), ", ")+
			` ON CONFLICT DO NOTHING RETURNING day, id`)
	}
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	fresh := make([]*Event, 0, len(batch))
	args := make([]any, 0, 13*sqliteRows)
	byKey := make(map[eventKey]*Event, sqliteRows)
	for len(batch) > 0 {
		n := min(len(batch), sqliteRows)
		chunk := batch[:n]
		batch = batch[n:]
		args = args[:0]
		clear(byKey)
		for _, e := range chunk {
			d := dayOf(e.Time)
			byKey[eventKey{d, e.ID}] = e
			args = append(args, d, e.ID, e.Time.UnixMicro(), e.Namespace, e.Model,
				e.APIRequests, e.Calls, e.InputTokens, e.OutputTokens, e.SkillsExecuted,
				e.CPUMicros, e.MemoryMiBSeconds, e.StorageBytes)
		}
		stmt := full
		if n == sqliteRows && full == nil {
			var err error
			if full, err = prepare(n); err != nil {
				return nil, err
			}
			stmt = full
		} else if n < sqliteRows {
			var err error
			if stmt, err = prepare(n); err != nil {
				return nil, err
			}
			defer stmt.Close()
		}
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("inserting %d events: %w", n, err)
		}
		for rows.Next() {
			var k eventKey
			if err := rows.Scan(&k.day, &k.id); err != nil {
				rows.Close()
				return nil, err
			}
			e, ok := byKey[k]
			if !ok {
				rows.Close()
				return nil, fmt.Errorf("inserting events: the database returned an unknown event %d/%s", k.day, k.id)
			}
			fresh = append(fresh, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("inserting %d events: %w", n, err)
		}
	}
	return fresh, nil
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
	var fresh []*Event
	for rows.Next() {
		var k eventKey
		if err := rows.Scan(&k.day, &k.id); err != nil {
			return nil, err
		}
		e, ok := byKey[k]
		if !ok {
			return nil, fmt.Errorf("inserting events: the database returned an unknown event %d/%s", k.day, k.id)
		}
		fresh = append(fresh, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inserting %d events: %w", n, err)
	}
	return fresh, nil
}

// rollUp adds the inserted events to their hourly and daily roll-ups:
// summed in memory first, then one upsert per (namespace, hour, model) and
// per (namespace, day, model), in key order so that two nodes writing the
// same rows lock them in the same order.
//
// Storage is a gauge, so the daily row's hour-sum needs to know by how much
// each hour's largest sample grew: the old hourly maxima are read first
// (PostgreSQL: under a per-namespace advisory lock, so that two nodes
// sampling one namespace at once do not both add the same growth).
func (l *Ledger) rollUp(ctx context.Context, tx *sql.Tx, fresh []*Event) error {
	if len(fresh) == 0 {
		return nil
	}
	hourly := map[groupKey]*counts{}
	get := func(m map[groupKey]*counts, k groupKey) *counts {
		c := m[k]
		if c == nil {
			c = &counts{}
			m[k] = c
		}
		return c
	}
	for _, e := range fresh {
		h := hourOf(e.Time)
		c := get(hourly, groupKey{e.Namespace, h, e.Model})
		storage := e.StorageBytes
		e2 := *e
		e2.StorageBytes = 0
		c.add(&e2)
		if storage > 0 {
			s := get(hourly, groupKey{e.Namespace, h, ""})
			s.storageMax = max(s.storageMax, storage)
		}
	}
	var samples []groupKey // (namespace, hour, "") rows with a storage sample
	for k, c := range hourly {
		if k.model == "" && c.storageMax > 0 {
			samples = append(samples, k)
		}
	}
	sortKeys(samples)
	old, err := l.oldStorage(ctx, tx, samples)
	if err != nil {
		return err
	}

	daily := map[groupKey]*dayCounts{}
	for k, c := range hourly {
		dk := groupKey{k.namespace, floorDiv(k.hour, secondsPerDay), k.model}
		d := daily[dk]
		if d == nil {
			d = &dayCounts{}
			daily[dk] = d
		}
		st := c.storageMax
		c2 := *c
		c2.storageMax = 0
		d.addCounts(&c2)
		if st > 0 {
			was := old[k]
			now := max(was, st)
			d.storageMax = max(d.storageMax, now)
			d.byteHours += now - was
			if k.hour > d.lastHour {
				d.lastHour, d.last = k.hour, now
			}
		}
	}
	if err := l.upsertHourly(ctx, tx, hourly); err != nil {
		return err
	}
	return l.upsertDaily(ctx, tx, daily)
}

// dayCounts are one daily roll-up row's meters.
type dayCounts struct {
	counts
	byteHours, lastHour, last int64
}

func (c *counts) addCounts(o *counts) {
	c.apiRequests += o.apiRequests
	c.calls += o.calls
	c.inputTokens += o.inputTokens
	c.outputTokens += o.outputTokens
	c.skills += o.skills
	c.cpuMicros += o.cpuMicros
	c.memMiBSeconds += o.memMiBSeconds
	c.storageMax = max(c.storageMax, o.storageMax)
}

func sortKeys(keys []groupKey) {
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
}

// oldStorage reads the largest storage sample so far of each sampled hour.
func (l *Ledger) oldStorage(ctx context.Context, tx *sql.Tx, samples []groupKey) (map[groupKey]int64, error) {
	old := map[groupKey]int64{}
	if len(samples) == 0 {
		return old, nil
	}
	if l.backend == BackendPostgres {
		nss, hours := make([]string, len(samples)), make([]int64, len(samples))
		for i, k := range samples {
			nss[i], hours[i] = k.namespace, k.hour
		}
		// Locks in one order (the hashes sorted), so writers cannot deadlock on them.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(72435190, h) FROM
			(SELECT DISTINCT hashtext(ns) AS h FROM unnest($1::text[]) AS ns ORDER BY 1) AS s`, nss); err != nil {
			return nil, fmt.Errorf("locking storage samples: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT r.namespace, r.hour, r.storage_max FROM rollup_hourly r
			JOIN unnest($1::text[], $2::bigint[]) AS k(ns, hour) ON r.namespace = k.ns AND r.hour = k.hour AND r.model = ''`,
			nss, hours)
		if err != nil {
			return nil, fmt.Errorf("reading storage samples: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			k := groupKey{}
			var v int64
			if err := rows.Scan(&k.namespace, &k.hour, &v); err != nil {
				return nil, err
			}
			old[k] = v
		}
		return old, rows.Err()
	}
	stmt, err := tx.PrepareContext(ctx, `SELECT storage_max FROM rollup_hourly WHERE namespace = ? AND hour = ? AND model = ''`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	for _, k := range samples {
		var v int64
		switch err := stmt.QueryRowContext(ctx, k.namespace, k.hour).Scan(&v); err {
		case nil:
			old[k] = v
		case sql.ErrNoRows:
		default:
			return nil, fmt.Errorf("reading storage samples: %w", err)
		}
	}
	return old, nil
}

// greatest is the SQL of the larger of two values.
func (l *Ledger) greatest() string {
	if l.backend == BackendPostgres {
		return "GREATEST"
	}
	return "MAX" // SQLite's two-argument MAX
}

const sumCounters = `
		api_requests = t.api_requests + excluded.api_requests,
		calls = t.calls + excluded.calls,
		input_tokens = t.input_tokens + excluded.input_tokens,
		output_tokens = t.output_tokens + excluded.output_tokens,
		skills_executed = t.skills_executed + excluded.skills_executed,
		cpu_micros = t.cpu_micros + excluded.cpu_micros,
		memory_mib_seconds = t.memory_mib_seconds + excluded.memory_mib_seconds`

func (l *Ledger) upsertHourly(ctx context.Context, tx *sql.Tx, groups map[groupKey]*counts) error {
	keys := make([]groupKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sortKeys(keys)
	const cols = `namespace, hour, model, api_requests, calls, input_tokens, output_tokens,
		skills_executed, cpu_micros, memory_mib_seconds, storage_max`
	conflict := ` ON CONFLICT (namespace, hour, model) DO UPDATE SET` + sumCounters + `,
		storage_max = ` + l.greatest() + `(t.storage_max, excluded.storage_max)`
	row := func(k groupKey) []any {
		g := groups[k]
		return []any{k.namespace, k.hour, k.model, g.apiRequests, g.calls, g.inputTokens, g.outputTokens,
			g.skills, g.cpuMicros, g.memMiBSeconds, g.storageMax}
	}
	return l.upsert(ctx, tx, `rollup_hourly`, cols, conflict, len(keys), func(i int) []any { return row(keys[i]) })
}

func (l *Ledger) upsertDaily(ctx context.Context, tx *sql.Tx, groups map[groupKey]*dayCounts) error {
	keys := make([]groupKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sortKeys(keys)
	const cols = `namespace, day, model, api_requests, calls, input_tokens, output_tokens,
		skills_executed, cpu_micros, memory_mib_seconds, storage_max, storage_byte_hours, storage_last_hour, storage_last`
	// SET reads the row as it was: the latest hour's sample moves on to a
	// later hour, or grows within the same hour.
	conflict := ` ON CONFLICT (namespace, day, model) DO UPDATE SET` + sumCounters + `,
		storage_max = ` + l.greatest() + `(t.storage_max, excluded.storage_max),
		storage_byte_hours = t.storage_byte_hours + excluded.storage_byte_hours,
		storage_last_hour = ` + l.greatest() + `(t.storage_last_hour, excluded.storage_last_hour),
		storage_last = CASE WHEN excluded.storage_last_hour > t.storage_last_hour THEN excluded.storage_last
			WHEN excluded.storage_last_hour = t.storage_last_hour THEN ` + l.greatest() + `(t.storage_last, excluded.storage_last)
			ELSE t.storage_last END`
	row := func(k groupKey) []any {
		g := groups[k]
		return []any{k.namespace, k.hour, k.model, g.apiRequests, g.calls, g.inputTokens, g.outputTokens,
			g.skills, g.cpuMicros, g.memMiBSeconds, g.storageMax, g.byteHours, g.lastHour, g.last}
	}
	return l.upsert(ctx, tx, `rollup_daily`, cols, conflict, len(keys), func(i int) []any { return row(keys[i]) })
}

// upsert writes n rows into table: PostgreSQL in one statement from one
// array per column (namespace and model text, the rest bigint), SQLite a
// prepared statement per row.
func (l *Ledger) upsert(ctx context.Context, tx *sql.Tx, table, cols, conflict string, n int, row func(int) []any) error {
	if n == 0 {
		return nil
	}
	ncol := len(strings.Split(cols, ","))
	if l.backend == BackendPostgres {
		arrays := make([]any, ncol)
		texts := map[int]bool{0: true, 2: true} // namespace, model
		for c := range ncol {
			if texts[c] {
				arrays[c] = make([]string, n)
			} else {
				arrays[c] = make([]int64, n)
			}
		}
		for i := range n {
			for c, v := range row(i) {
				if texts[c] {
					arrays[c].([]string)[i] = v.(string)
				} else {
					arrays[c].([]int64)[i] = v.(int64)
				}
			}
		}
		casts := make([]string, ncol)
		for c := range casts {
			casts[c] = fmt.Sprintf("$%d::bigint[]", c+1)
			if texts[c] {
				casts[c] = fmt.Sprintf("$%d::text[]", c+1)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` AS t (`+cols+`) SELECT * FROM unnest(`+
			strings.Join(casts, ", ")+`)`+conflict, arrays...)
		if err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO `+table+` AS t (`+cols+`) VALUES (?`+
		strings.Repeat(", ?", ncol-1)+`)`+conflict)
	if err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	defer stmt.Close()
	for i := range n {
		if _, err := stmt.ExecContext(ctx, row(i)...); err != nil {
			return fmt.Errorf("%s: %w", table, err)
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
		// The next day's too: made ahead, it costs no write a wait for the
		// DDL lock at midnight.
		for d := dayOf(e.Time); d <= dayOf(e.Time)+1; d++ {
			if d >= horizon && !l.parts[d] && !seen[d] {
				seen[d] = true
				need = append(need, d)
			}
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
