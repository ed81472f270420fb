package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// memAnchor is an audit.Anchor in memory.
type memAnchor struct {
	mu    sync.Mutex
	heads map[string]store.AuditHead
}

func (m *memAnchor) PutAuditHead(_ context.Context, ns string, h store.AuditHead) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.heads[ns] = h
	return nil
}

func (m *memAnchor) GetAuditHead(_ context.Context, ns string) (store.AuditHead, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.heads[ns]
	return h, ok, nil
}

// auditServer is a server whose audit log is a real one on SQLite.
func auditServer(t *testing.T, st Store) (*Server, *audit.Writer) {
	t.Helper()
	l, err := ledger.Open(context.Background(), ledger.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	g := audit.New(l)
	a := &memAnchor{heads: map[string]store.AuditHead{}}
	w := audit.NewWriter(g, audit.WriterOptions{Anchor: a})
	return New(Config{Token: adminToken, Audit: w, AuditLog: audit.Checked{Log: g, Anchor: a}}, st, nil), w
}

func records(t *testing.T, h http.Handler, w *audit.Writer, query string) []audit.Record {
	t.Helper()
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := admin(t, h, "GET", "/api/v1/audit/records?"+query, "")
	if rec.Code != 200 {
		t.Fatalf("records: %d %s", rec.Code, rec.Body)
	}
	var out []audit.Record
	decodeInto(t, rec, &out)
	return out
}

func TestAuditAdminChanges(t *testing.T) {
	st := newMemStore(namespace.Spec{Name: "tenant-a", DisplayName: "客户A"})
	srv, w := auditServer(t, st)

	for _, v := range []string{"gpt-4o", "claude-sonnet-4"} {
		if rec := admin(t, srv, "PUT", "/api/v1/config/namespaces.tenant-a.models.primary", `{"value":"`+v+`"}`); rec.Code != 200 {
			t.Fatalf("set: %d %s", rec.Code, rec.Body)
		}
	}
	admin(t, srv, "PUT", "/api/v1/config/namespaces.tenant-a.minInstances", `{"value":"7"}`) // refused
	send(t, srv, "Bearer wrong", "DELETE", "/api/v1/namespaces/tenant-a", "")                // refused token
	admin(t, srv, "GET", "/api/v1/namespaces/tenant-a", "")                                  // reads are not audited
	if rec := admin(t, srv, "POST", "/api/v1/namespaces/tenant-a/wake", ""); rec.Code != 202 {
		t.Fatalf("wake: %d %s", rec.Code, rec.Body)
	}

	got := records(t, srv, w, "namespace=tenant-a&type=config_change")
	if len(got) != 3 {
		t.Fatalf("%d config_change records, want 3: %+v", len(got), got)
	}
	first, second, refused := got[0], got[1], got[2]
	if first.Before != "" || first.After != "gpt-4o" || first.Actor != "admin-token" || first.Target != "namespaces.tenant-a.models.primary" || first.Outcome != "success" {
		t.Errorf("first set: %+v", first)
	}
	if second.Before != "gpt-4o" || second.After != "claude-sonnet-4" {
		t.Errorf("second set before/after: %+v", second)
	}
	if refused.Outcome != "refused" || refused.Detail == "" || refused.After != "" {
		t.Errorf("refused set: %+v", refused)
	}
	all := records(t, srv, w, "namespace=tenant-a")
	if len(all) != 4 || all[3].Type != audit.TypeNamespace || all[3].Action != "POST /api/v1/namespaces/{name}/wake" {
		t.Fatalf("all records: %+v", all)
	}
	newest := records(t, srv, w, "namespace=tenant-a&order=desc&limit=2")
	if len(newest) != 2 || newest[0].Seq != all[3].Seq || newest[1].Seq != all[2].Seq {
		t.Fatalf("order=desc&limit=2: %+v, want records %d and %d", newest, all[3].Seq, all[2].Seq)
	}
	wantProblem(t, admin(t, srv, "GET", "/api/v1/audit/records?namespace=tenant-a&order=newest", ""), 400, "order")
	cluster := records(t, srv, w, "type=auth")
	if len(cluster) != 1 || cluster[0].Outcome != "refused" || cluster[0].Action != "admin_token_refused" {
		t.Fatalf("cluster-wide auth records: %+v", cluster)
	}

	rec := admin(t, srv, "GET", "/api/v1/audit/verify?namespace=tenant-a", "")
	var v audit.Verification
	decodeInto(t, rec, &v)
	if !v.OK || v.Records != 4 || v.Anchor == nil || v.Anchor.Seq != 4 {
		t.Fatalf("verify: %+v", v)
	}

	rec = admin(t, srv, "GET", "/api/v1/audit/export?namespace=tenant-a&period=2026-Q2&format=xml", "")
	wantProblem(t, rec, 400, "xml")
	rec = admin(t, srv, "GET", "/api/v1/audit/export?namespace=tenant-a&period=2026-13", "")
	wantProblem(t, rec, 400, "period")
}

func TestAuditExportEndpoint(t *testing.T) {
	st := newMemStore(namespace.Spec{Name: "tenant-a", DisplayName: "客户A"})
	srv, w := auditServer(t, st)
	admin(t, srv, "PUT", "/api/v1/config/namespaces.tenant-a.models.primary", `{"value":"gpt-4o"}`)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	period := "2026" // the records are stamped now
	if now := records(t, srv, w, "namespace=tenant-a"); len(now) == 1 {
		period = now[0].Time.Format("2006-01")
	}
	rec := admin(t, srv, "GET", "/api/v1/audit/export?namespace=tenant-a&period="+period+"&format=json", "")
	var rep audit.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rep.DisplayName != "客户A" || len(rep.Records) != 1 || rep.Head.Seq != 1 {
		t.Fatalf("json export: %d %s", rec.Code, rec.Body)
	}
	if _, err := os.Stat(filepath.Join(audit.DefaultFontDir, "gbsn00lp.ttf")); err == nil {
		rec = admin(t, srv, "GET", "/api/v1/audit/export?namespace=tenant-a&period="+period+"&format=pdf", "")
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(rec.Body.Bytes(), []byte("%PDF-")) {
			t.Fatalf("pdf export: %d %q", rec.Code, rec.Body.Bytes()[:min(64, rec.Body.Len())])
		}
	}
}

func TestAuditWithoutLog(t *testing.T) {
	srv := New(Config{Token: adminToken}, newMemStore(), nil)
	wantProblem(t, admin(t, srv, "GET", "/api/v1/audit/records?namespace=a", ""), 409, "no audit log")
}
