package retention

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the agent databases are SQLite
)

// OpenClaw 2026.9.6 keeps each agent's conversations in SQLite:
// agents/<agent>/agent/openclaw-agent.sqlite. A conversation is a row of
// session_nodes (session key → current session window, updated_at in ms);
// its windows (session_windows) and, by ON DELETE CASCADE, their transcript
// events, trajectories, indexes and pending inputs hang off it. The search
// index (session_transcript_fts_rows, whose trigger clears the FTS table)
// and the deletion archives (session_transcript_archives) carry no foreign
// key and are deleted by session id.
//
// The database is OpenClaw's: a running gateway serializes every change
// through its own writer. clawd therefore changes it only while no gateway
// has it open (the namespace is stopped or evicted); otherwise the kind's
// report says the database was deferred, and the next pass after the
// namespace sleeps removes the rows.
const (
	agentDBDir  = "agents/*/agent"
	agentDBName = "openclaw-agent.sqlite"
)

// agentDBTables must all exist for clawd to touch a database: another
// schema is left alone.
var agentDBTables = []string{"session_nodes", "session_windows", "transcript_events"}

// sweepAgentDBs finds (and unless dryRun deletes) the conversations whose
// last update is before cutoff in every agent database under root.
func sweepAgentDBs(ctx context.Context, root *os.Root, cutoff time.Time, dryRun bool, rep *KindReport) error {
	dirs, err := expand(root, agentDBDir)
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if err := sweepAgentDB(ctx, root, dir, cutoff, dryRun, rep); err != nil {
			return fmt.Errorf("%s: %w", path.Join(dir, agentDBName), err)
		}
	}
	return nil
}

func sweepAgentDB(ctx context.Context, root *os.Root, dir string, cutoff time.Time, dryRun bool, rep *KindReport) error {
	dbPath := path.Join(dir, agentDBName)
	fi, err := root.Lstat(dbPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		rep.Skipped++
		return nil
	}
	// SQLite opens its side files by name: each must be a plain file of
	// the volume or absent, never a link a tenant planted.
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if sfi, err := root.Lstat(dbPath + side); err == nil && !sfi.Mode().IsRegular() {
			return fmt.Errorf("%s%s is not a regular file; left alone", agentDBName, side)
		}
	}
	// The directory by descriptor: the path SQLite opens cannot be
	// redirected out of the volume by a component swapped for a link.
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	defer restoreOwner(root, dbPath, fi)
	dsn := fmt.Sprintf("file:/proc/self/fd/%d/%s?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=trusted_schema(0)", d.Fd(), agentDBName)
	if dryRun {
		dsn += "&_pragma=query_only(1)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var have int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('`+strings.Join(agentDBTables, "', '")+`')`).Scan(&have); err != nil {
		return err
	}
	if have != len(agentDBTables) {
		rep.Deferred = "an agent database without OpenClaw 2026.9.6's session tables was left alone"
		return nil
	}
	cut := cutoff.UnixMilli()
	agent := path.Base(path.Dir(dir))
	// The windows that go: every window of a conversation last updated
	// before the cutoff, and the older windows (resets, rollovers) of the
	// conversations kept.
	const gone = `SELECT w.session_id, w.session_key FROM session_windows w LEFT JOIN session_nodes n ON n.session_key = w.session_key
		WHERE n.updated_at < ?1 OR (w.updated_at < ?1 AND (n.session_key IS NULL OR w.session_id <> n.current_session_id))`
	rows, err := conn.QueryContext(ctx, `SELECT g.session_key, count(DISTINCT g.session_id), coalesce(sum(coalesce(length(e.event_json), 0) + coalesce(length(e.event_zstd), 0)), 0)
		FROM (`+gone+`) g LEFT JOIN transcript_events e ON e.session_id = g.session_id GROUP BY g.session_key ORDER BY g.session_key`, cut)
	if err != nil {
		return err
	}
	var found []Item
	for rows.Next() {
		var key string
		var windows, bytes int64
		if err := rows.Scan(&key, &windows, &bytes); err != nil {
			rows.Close()
			return err
		}
		found = append(found, Item{Path: "db:" + agent + "/" + key, Bytes: bytes})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(found) == 0 {
		return nil
	}
	if !dryRun {
		if err := deleteConversations(ctx, conn, gone, cut); err != nil {
			return err
		}
	}
	for _, it := range found {
		rep.add(it)
	}
	return nil
}

func deleteConversations(ctx context.Context, conn *sql.Conn, gone string, cut int64) error {
	tables := map[string]bool{}
	rows, err := conn.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			tables[n] = true
		}
	}
	rows.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return err
	}
	stmts := []string{
		`CREATE TEMP TABLE clawd_gone AS SELECT session_id FROM (` + gone + `)`,
	}
	if tables["session_transcript_fts_rows"] {
		stmts = append(stmts, `DELETE FROM session_transcript_fts_rows WHERE session_id IN (SELECT session_id FROM clawd_gone)`)
	}
	if tables["session_transcript_archives"] {
		stmts = append(stmts, `DELETE FROM session_transcript_archives WHERE session_id IN (SELECT session_id FROM clawd_gone) OR created_at < ?1`)
	}
	stmts = append(stmts,
		`DELETE FROM session_nodes WHERE updated_at < ?1`,
		`DELETE FROM session_windows WHERE session_id IN (SELECT session_id FROM clawd_gone)`,
		`DROP TABLE clawd_gone`,
		`COMMIT`)
	for _, s := range stmts {
		var args []any
		if strings.Contains(s, "?1") {
			args = []any{cut}
		}
		if _, err := conn.ExecContext(ctx, s, args...); err != nil {
			_, _ = conn.ExecContext(ctx, `ROLLBACK`)
			return err
		}
	}
	// The WAL back into the file, so the next gateway starts from it.
	_, err = conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// restoreOwner hands side files SQLite may have made (as root) back to
// the database's owner, the gateway user.
func restoreOwner(root *os.Root, dbPath string, db fs.FileInfo) {
	st, ok := db.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	for _, side := range []string{"", "-wal", "-shm", "-journal"} {
		if fi, err := root.Lstat(dbPath + side); err == nil && fi.Mode().IsRegular() {
			_ = root.Lchown(dbPath+side, int(st.Uid), int(st.Gid))
		}
	}
}
