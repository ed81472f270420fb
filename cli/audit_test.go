package cli

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// auditStore is the little of api.Store the audit commands reach.
type auditStore struct {
	api.Store
}

func (auditStore) GetNamespace(_ context.Context, name string) (namespace.Namespace, error) {
	return namespace.Namespace{Spec: namespace.Spec{Name: name, DisplayName: "客户A"}}, nil
}

type nullAnchor struct{}

func (nullAnchor) PutAuditHead(context.Context, string, store.AuditHead) error { return nil }
func (nullAnchor) GetAuditHead(context.Context, string) (store.AuditHead, bool, error) {
	return store.AuditHead{}, false, nil
}

// auditDaemon is the real admin API on a real audit log holding recs.
func auditDaemon(t *testing.T, recs ...audit.Record) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), ledger.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	g := audit.New(l)
	if _, err := g.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Token: "t", AuditLog: audit.Checked{Log: g, Anchor: nullAnchor{}}}, auditStore{}, nil))
	t.Cleanup(srv.Close)
	t.Setenv("CLAWD_ADDR", srv.URL)
	t.Setenv("CLAWD_TOKEN", "t")
	return l
}

func TestAuditCommands(t *testing.T) {
	now := testTime()
	l := auditDaemon(t,
		audit.Record{Namespace: "tenant-a", Time: now, Type: audit.TypeConfigChange, Actor: "admin-token", Action: "PUT /api/v1/config/{key}",
			Target: "namespaces.tenant-a.models.primary", Outcome: "success", After: "gpt-4o"},
		audit.Record{Namespace: "tenant-a", Time: now, Type: audit.TypeAuth, Actor: "apikey:key_1", Action: "key_refused", Outcome: "refused"},
	)
	out, _, err := runCLI("audit", "query", "--namespace=tenant-a", "--event-type=config_change")
	if err != nil || !strings.Contains(out, "namespaces.tenant-a.models.primary") || strings.Contains(out, "key_refused") {
		t.Fatalf("query: %v\n%s", err, out)
	}
	out, _, err = runCLI("audit", "query", "--namespace=tenant-a", "-o", "json")
	if err != nil || !strings.Contains(out, `"key_refused"`) {
		t.Fatalf("query -o json: %v\n%s", err, out)
	}
	if _, _, err = runCLI("audit", "query", "--namespace=tenant-a", "--event-type=bogus"); err == nil || !strings.Contains(err.Error(), "unknown event type") {
		t.Fatalf("bad type: %v", err)
	}
	if _, _, err = runCLI("audit", "query"); err == nil || !strings.Contains(err.Error(), "--namespace") {
		t.Fatalf("no namespace: %v", err)
	}
	out, _, err = runCLI("audit", "verify", "--namespace=tenant-a")
	if err != nil || !strings.HasPrefix(out, "ok: 2 records") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, _, err = runCLI("audit", "export", "--namespace=tenant-a", "--period="+now.Format("2006-01"), "--format=csv")
	if err != nil || strings.Count(out, "\n") != 3 {
		t.Fatalf("export csv: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(audit.DefaultFontDir, "gbsn00lp.ttf")); err == nil {
		file := filepath.Join(t.TempDir(), "r.pdf")
		if _, _, err = runCLI("audit", "export", "--namespace=tenant-a", "--period="+now.Format("2006")+"-Q"+string(rune('1'+(now.Month()-1)/3)), "--format=pdf", "--file="+file); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(file); !strings.HasPrefix(string(b), "%PDF-") {
			t.Fatalf("export pdf: %q", b[:min(len(b), 16)])
		}
	}

	w, _ := l.DB()
	if _, err := w.Exec(`UPDATE audit SET actor = 'someone-else' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if _, _, err = runCLI("audit", "verify", "--namespace=tenant-a"); err == nil || !strings.Contains(err.Error(), "broken at record 2") {
		t.Fatalf("verify of a changed record: %v", err)
	}
}

func testTime() time.Time { return time.Date(2026, 5, 14, 9, 30, 0, 0, time.UTC) }
