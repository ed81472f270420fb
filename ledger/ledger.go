package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// Options say where the ledger lives.
type Options struct {
	// DSN: "" → the SQLite file ledger.db in Dir; "postgres://…" or
	// "postgresql://…" → PostgreSQL (every node of a cluster may write to it).
	DSN    string
	Dir    string
	Logger hclog.Logger
}

// Backend names, as Backend returns them.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// Ledger is an open usage ledger. Its methods are safe for concurrent use.
type Ledger struct {
	backend string
	// w takes the writes: SQLite allows one writer, so it has one connection
	// (BEGIN IMMEDIATE); r serves reports and exports (WAL lets readers run
	// beside the writer). For PostgreSQL both are the same pool.
	w, r *sql.DB
	log  hclog.Logger

	partMu sync.Mutex
	parts  map[int64]bool // PostgreSQL day partitions known to exist

	// Test hooks: a failure after the rows were inserted but before the
	// commit (the transaction rolls back), and after the commit (the answer
	// is lost although the rows are durable).
	beforeCommit func() error
	afterCommit  func() error
}

// Open opens the ledger, creating or migrating its schema.
func Open(ctx context.Context, o Options) (*Ledger, error) {
	log := o.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	l := &Ledger{log: log, parts: map[int64]bool{}}
	switch {
	case o.DSN == "":
		if o.Dir == "" {
			return nil, errors.New("opening ledger: neither a DSN nor a data dir")
		}
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("opening ledger: %w", err)
		}
		path := filepath.Join(o.Dir, "ledger.db")
		if err := l.openSQLite(path); err != nil {
			return nil, err
		}
	case strings.HasPrefix(o.DSN, "postgres://"), strings.HasPrefix(o.DSN, "postgresql://"):
		db, err := sql.Open("pgx", o.DSN)
		if err != nil {
			return nil, fmt.Errorf("opening ledger on postgres: %w", err)
		}
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
		l.backend, l.w, l.r = BackendPostgres, db, db
	default:
		return nil, fmt.Errorf("opening ledger: DSN %q is not postgres://… (leave it empty for SQLite in the data dir)", redact(o.DSN))
	}
	l.log = log.With("backend", l.backend)
	if err := l.migrate(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Write and read handles on one SQLite file. synchronous=FULL: a commit
// fsyncs the WAL, so what Write acknowledged survives a power loss too
// (NORMAL would survive kill -9 of the process but could lose the last
// commits on a power loss). Batching makes that one fsync per flush, not
// per event. auto_vacuum=INCREMENTAL (only takes effect on a new file) lets
// Retain hand deleted pages back to the file system.
func (l *Ledger) openSQLite(path string) error {
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	pragmas := "?_pragma=auto_vacuum(INCREMENTAL)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(0)"
	w, err := sql.Open("sqlite", base+pragmas+"&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("opening ledger %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer connection creates the file and its WAL before a reader opens it.
	if err := w.Ping(); err != nil {
		w.Close()
		return fmt.Errorf("opening ledger %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", base+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return fmt.Errorf("opening ledger %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	l.backend, l.w, l.r = BackendSQLite, w, r
	return nil
}

// Backend is "sqlite" or "postgres".
func (l *Ledger) Backend() string { return l.backend }

// Close closes the database handles.
func (l *Ledger) Close() error {
	err := l.w.Close()
	if l.r != l.w {
		if rerr := l.r.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// rebind turns the ? placeholders of a portable statement into PostgreSQL's $n.
func (l *Ledger) rebind(q string) string {
	if l.backend != BackendPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// redact hides a password in a DSN for error messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}
