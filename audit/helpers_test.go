package audit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/internal/testenv"
	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/store"
)

// eachBackend runs fn on a fresh SQLite ledger and on a fresh PostgreSQL
// schema (CLAWD_TEST_POSTGRES_DSN, from scripts/postgres.sh).
func eachBackend(t *testing.T, fn func(t *testing.T, l *ledger.Ledger)) {
	t.Run(ledger.BackendSQLite, func(t *testing.T) { fn(t, openLedger(t, ledger.Options{Dir: t.TempDir()})) })
	t.Run(ledger.BackendPostgres, func(t *testing.T) { fn(t, openLedger(t, postgresOptions(t))) })
}

func openLedger(t *testing.T, o ledger.Options) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func postgresOptions(t *testing.T) ledger.Options {
	dsn := os.Getenv("CLAWD_TEST_POSTGRES_DSN")
	if dsn == "" {
		testenv.Missing(t, "CLAWD_TEST_POSTGRES_DSN is not set: run `eval \"$(bash scripts/postgres.sh)\"` for a PostgreSQL server")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		testenv.Missing(t, "PostgreSQL does not answer: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "audit_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return ledger.Options{DSN: u.String()}
}

// memAnchor is an Anchor in memory.
type memAnchor struct {
	mu    sync.Mutex
	heads map[string]store.AuditHead
}

func (m *memAnchor) PutAuditHead(_ context.Context, ns string, h store.AuditHead) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.heads == nil {
		m.heads = map[string]store.AuditHead{}
	}
	if h.Seq > m.heads[ns].Seq {
		m.heads[ns] = h
	}
	return nil
}

func (m *memAnchor) GetAuditHead(_ context.Context, ns string) (store.AuditHead, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.heads[ns]
	return h, ok, nil
}

func ledgerOptionsSQLite(t *testing.T) ledger.Options { return ledger.Options{Dir: t.TempDir()} }
