package retention

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// agentSchema is the part of OpenClaw 2026.9.6's agent database the
// sweep touches, as the real image creates it (see the README).
const agentSchema = `
CREATE TABLE session_nodes (session_key TEXT NOT NULL PRIMARY KEY, current_session_id TEXT NOT NULL, entry_json TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT;
CREATE TABLE session_windows (session_id TEXT NOT NULL PRIMARY KEY, session_key TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  FOREIGN KEY (session_key) REFERENCES session_nodes(session_key) ON DELETE CASCADE) STRICT;
CREATE TABLE transcript_events (session_id TEXT NOT NULL, seq INTEGER NOT NULL, event_json TEXT, created_at INTEGER NOT NULL, event_zstd BLOB,
  PRIMARY KEY (session_id, seq), FOREIGN KEY (session_id) REFERENCES "session_windows"(session_id) ON DELETE CASCADE) STRICT;
CREATE TABLE session_transcript_fts_rows (id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, message_id TEXT) STRICT;
CREATE TABLE session_transcript_archives (session_id TEXT NOT NULL, generation TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (session_id, generation)) STRICT;
`

func agentDB(t *testing.T, vol string) string {
	t.Helper()
	dir := filepath.Join(vol, "agents/main/agent")
	os.MkdirAll(dir, 0o700)
	p := filepath.Join(dir, agentDBName)
	db, err := sql.Open("sqlite", "file:"+p+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o, n := old.UnixMilli(), now.UnixMilli()
	for _, s := range []string{agentSchema,
		// old: a conversation last updated 100 days ago.
		`INSERT INTO session_nodes VALUES ('agent:main:old', 'w-old', '{}', ?1)`,
		`INSERT INTO session_windows VALUES ('w-old', 'agent:main:old', ?1, ?1)`,
		`INSERT INTO transcript_events VALUES ('w-old', 1, '0123456789', ?1, NULL)`,
		`INSERT INTO session_transcript_fts_rows VALUES (1, 'w-old', 'm1')`,
		// live: updated now, with an old window from before a reset.
		`INSERT INTO session_nodes VALUES ('agent:main:live', 'w-live', '{}', ?2)`,
		`INSERT INTO session_windows VALUES ('w-live', 'agent:main:live', ?2, ?2)`,
		`INSERT INTO session_windows VALUES ('w-reset', 'agent:main:live', ?1, ?1)`,
		`INSERT INTO transcript_events VALUES ('w-live', 1, 'hello', ?2, NULL)`,
		`INSERT INTO transcript_events VALUES ('w-reset', 1, 'abc', ?1, NULL)`,
		`INSERT INTO session_transcript_fts_rows VALUES (2, 'w-live', 'm2')`,
	} {
		if _, err := db.Exec(s, o, n); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return p
}

func countRows(t *testing.T, p, q string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func sweepDB(t *testing.T, vol string, dryRun bool) (KindReport, error) {
	root, err := os.OpenRoot(vol)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var kr KindReport
	err = sweepAgentDBs(context.Background(), root, cut, dryRun, &kr)
	return kr, err
}

func TestAgentDBConversationsByCutoff(t *testing.T) {
	vol := t.TempDir()
	p := agentDB(t, vol)
	dry, err := sweepDB(t, vol, true)
	// Two conversations touched: old whole (10 bytes), live's reset window (3).
	if err != nil || dry.Count != 2 || dry.Bytes != 13 {
		t.Fatalf("dry run = %+v, %v; want 2 conversations, 13 bytes", dry, err)
	}
	if n := countRows(t, p, `SELECT count(*) FROM transcript_events`); n != 3 {
		t.Fatalf("the dry run deleted: %d events left, want 3", n)
	}
	got, err := sweepDB(t, vol, false)
	if err != nil || got.Count != 2 || got.Bytes != 13 {
		t.Fatalf("cleanup = %+v, %v", got, err)
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM session_nodes`:                                           1,
		`SELECT count(*) FROM session_windows`:                                         1,
		`SELECT count(*) FROM transcript_events WHERE session_id = 'w-live'`:           1,
		`SELECT count(*) FROM transcript_events`:                                       1,
		`SELECT count(*) FROM session_transcript_fts_rows WHERE session_id = 'w-live'`: 1,
		`SELECT count(*) FROM session_transcript_fts_rows`:                             1,
	} {
		if n := countRows(t, p, q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
	again, err := sweepDB(t, vol, false)
	if err != nil || again.Count != 0 {
		t.Fatalf("second cleanup = %+v, %v; want nothing", again, err)
	}
}

func TestAgentDBPlantedLinkRefused(t *testing.T) {
	vol := t.TempDir()
	p := agentDB(t, vol)
	os.Remove(p + "-wal")
	os.Remove(p + "-shm")
	target := filepath.Join(t.TempDir(), "host-file")
	os.WriteFile(target, []byte("host data"), 0o600)
	if err := os.Symlink(target, p+"-wal"); err != nil {
		t.Fatal(err)
	}
	_, err := sweepDB(t, vol, false)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a linked -wal: %v; want it refused", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "host data" {
		t.Fatalf("the link's target changed: %q", b)
	}
}
