package audit

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/store"
)

// Log is the audit table in the ledger's database.
type Log struct {
	l    *ledger.Ledger
	w, r *sql.DB
	pg   bool
}

// New returns the audit log kept in l (its schema has the audit table).
func New(l *ledger.Ledger) *Log {
	w, r := l.DB()
	return &Log{l: l, w: w, r: r, pg: l.Backend() == ledger.BackendPostgres}
}

const columns = `namespace, seq, ts_micros, type, actor, action, target, outcome, detail, before_value, after_value, prev_hash, hash`

// Append chains recs after their namespaces' newest records and inserts
// them in one transaction; it returns each touched namespace's new head.
// The chain is read inside the transaction: SQLite's BEGIN IMMEDIATE and a
// PostgreSQL advisory lock make nodes that share the database take turns.
func (g *Log) Append(ctx context.Context, recs []Record) (map[string]store.AuditHead, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	tx, err := g.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("appending audit records: %w", err)
	}
	defer tx.Rollback()
	if g.pg {
		// An arbitrary constant: "clawd audit chains".
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7243519002)`); err != nil {
			return nil, fmt.Errorf("appending audit records: lock: %w", err)
		}
	}
	heads := map[string]store.AuditHead{}
	ins, err := tx.PrepareContext(ctx, g.l.Rebind(`INSERT INTO audit (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return nil, fmt.Errorf("appending audit records: %w", err)
	}
	defer ins.Close()
	for i := range recs {
		r := &recs[i]
		h, ok := heads[r.Namespace]
		if !ok {
			h, err = lastOf(ctx, tx, g.l.Rebind, r.Namespace)
			if err != nil {
				return nil, err
			}
		}
		r.chain(h.Seq, h.Hash)
		if _, err := ins.ExecContext(ctx, r.Namespace, r.Seq, r.Time.UnixMicro(), r.Type, r.Actor, r.Action, r.Target,
			r.Outcome, r.Detail, r.Before, r.After, r.PrevHash, r.Hash); err != nil {
			return nil, fmt.Errorf("appending audit record %d of %q: %w", r.Seq, r.Namespace, err)
		}
		heads[r.Namespace] = store.AuditHead{Seq: r.Seq, Hash: r.Hash}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("appending audit records: commit: %w", err)
	}
	return heads, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func lastOf(ctx context.Context, q queryer, rebind func(string) string, ns string) (store.AuditHead, error) {
	var h store.AuditHead
	err := q.QueryRowContext(ctx, rebind(`SELECT seq, hash FROM audit WHERE namespace = ? ORDER BY seq DESC LIMIT 1`), ns).Scan(&h.Seq, &h.Hash)
	switch err {
	case nil:
		return h, nil
	case sql.ErrNoRows:
		return store.AuditHead{Seq: 0, Hash: GenesisHash}, nil
	}
	return h, fmt.Errorf("reading the audit chain of %q: %w", ns, err)
}

// Last returns the newest record's seq and hash of a namespace (seq 0 and
// GenesisHash for an empty chain).
func (g *Log) Last(ctx context.Context, ns string) (store.AuditHead, error) {
	return lastOf(ctx, g.r, g.l.Rebind, ns)
}

// Query returns a namespace's records matching f, oldest first (newest
// first with f.NewestFirst).
func (g *Log) Query(ctx context.Context, f Query) ([]Record, error) {
	q := `SELECT ` + columns + ` FROM audit WHERE namespace = ?`
	args := []any{f.Namespace}
	if !f.Start.IsZero() {
		q += ` AND ts_micros >= ?`
		args = append(args, f.Start.UnixMicro())
	}
	if !f.End.IsZero() {
		q += ` AND ts_micros < ?`
		args = append(args, f.End.UnixMicro())
	}
	if len(f.Types) > 0 {
		types := append([]string(nil), f.Types...)
		sort.Strings(types)
		q += ` AND type IN (?` + strings.Repeat(`, ?`, len(types)-1) + `)`
		for _, t := range types {
			args = append(args, t)
		}
	}
	q += ` ORDER BY seq`
	if f.NewestFirst {
		q += ` DESC`
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := g.r.QueryContext(ctx, g.l.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("querying the audit log of %q: %w", f.Namespace, err)
	}
	defer rows.Close()
	out := []Record{}
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("querying the audit log of %q: %w", f.Namespace, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("querying the audit log of %q: %w", f.Namespace, err)
	}
	return out, nil
}

func scan(rows *sql.Rows) (Record, error) {
	var r Record
	var micros int64
	err := rows.Scan(&r.Namespace, &r.Seq, &micros, &r.Type, &r.Actor, &r.Action, &r.Target, &r.Outcome, &r.Detail,
		&r.Before, &r.After, &r.PrevHash, &r.Hash)
	r.Time = time.UnixMicro(micros).UTC()
	return r, err
}

// each calls fn on every record of a namespace in seq order.
func (g *Log) each(ctx context.Context, ns string, fn func(Record) error) error {
	rows, err := g.r.QueryContext(ctx, g.l.Rebind(`SELECT `+columns+` FROM audit WHERE namespace = ? ORDER BY seq`), ns)
	if err != nil {
		return fmt.Errorf("reading the audit chain of %q: %w", ns, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return fmt.Errorf("reading the audit chain of %q: %w", ns, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}
