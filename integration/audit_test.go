package integration

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the daemon's ledger, for the tamper test

	"github.com/clawd-dev/clawd/audit"
)

// auditRecords runs `clawd audit query -o json`.
func auditRecords(t *testing.T, d *daemon, args ...string) []audit.Record {
	t.Helper()
	out := d.mustClawd(append([]string{"audit", "query", "-o", "json"}, args...)...)
	var recs []audit.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("audit query printed %q: %v", out, err)
	}
	return recs
}

func findRecord(recs []audit.Record, match func(audit.Record) bool) *audit.Record {
	for i := range recs {
		if match(recs[i]) {
			return &recs[i]
		}
	}
	return nil
}

// The guide's security chapter on the real daemon: a config change, a key
// creation and a key refused at the router are in the log; the chain
// verifies; a row changed in the database is named by verify.
func TestAuditLog(t *testing.T) {
	d := startSecureDaemon(t)
	d.mustClawd("namespace", "create", "tenant-a", "--display-name=客户A", "--hostname=tenant-a.localhost", "--warmup-on-create=false")
	d.mustClawd("config", "set", "namespaces.tenant-a.idle.pauseAfter", "30m")
	d.mustClawd("config", "set", "namespaces.tenant-a.idle.pauseAfter", "45m")
	_, keyID := createKey(t, d, "--namespace=tenant-a", "--name=ci")
	code, _, _ := keyedGet(t, d, "tenant-a.localhost", "/", map[string]string{"Authorization": "Bearer sk-tenant-a-" + strings.Repeat("x", 33)})
	if code != http.StatusUnauthorized {
		t.Fatalf("a wrong key got %d, want 401", code)
	}

	var recs []audit.Record
	eventually(t, 30*time.Second, "the audit records", func() bool {
		recs = auditRecords(t, d, "--namespace=tenant-a")
		return findRecord(recs, func(r audit.Record) bool { return r.Type == audit.TypeAuth && r.Action == "key_refused" }) != nil
	})
	set := findRecord(recs, func(r audit.Record) bool { return r.Type == audit.TypeConfigChange && r.After == "45m" })
	if set == nil || set.Before != "30m" || set.Target != "namespaces.tenant-a.idle.pauseAfter" || set.Actor != "admin-token" {
		t.Fatalf("the second config set is not in the log with before/after: %+v", recs)
	}
	if findRecord(recs, func(r audit.Record) bool {
		return r.Type == audit.TypeAPIKey && r.Target == keyID && r.Outcome == "success"
	}) == nil {
		t.Fatalf("the key creation (%s) is not in the log: %+v", keyID, recs)
	}
	if findRecord(recs, func(r audit.Record) bool {
		return r.Type == audit.TypeNamespace && r.Action == "POST /api/v1/namespaces"
	}) == nil {
		t.Fatalf("the namespace creation is not in the log: %+v", recs)
	}
	only := auditRecords(t, d, "--namespace=tenant-a", "--event-type=auth")
	if len(only) == 0 || findRecord(only, func(r audit.Record) bool { return r.Type != audit.TypeAuth }) != nil {
		t.Fatalf("--event-type=auth: %+v", only)
	}

	// Sleep through the API, and the gateway's own phase change, are in it.
	d.mustClawd("namespace", "sleep", "tenant-a", "--to=paused")
	eventually(t, 60*time.Second, "the gateway's sleep in the audit log", func() bool {
		recs = auditRecords(t, d, "--namespace=tenant-a", "--event-type=namespace")
		return findRecord(recs, func(r audit.Record) bool {
			return r.Actor == "system" && r.Action == "sleep" && r.After == "Paused"
		}) != nil
	})
	if findRecord(recs, func(r audit.Record) bool {
		return r.Action == "POST /api/v1/namespaces/{name}/sleep" && r.Actor == "admin-token"
	}) == nil {
		t.Fatalf("the sleep request is not in the log: %+v", recs)
	}

	out := d.mustClawd("audit", "verify", "--namespace=tenant-a")
	if !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify: %q", out)
	}

	pdf := filepath.Join(t.TempDir(), "a.pdf")
	if _, err := os.Stat(filepath.Join(audit.DefaultFontDir, "gbsn00lp.ttf")); err == nil {
		d.mustClawd("audit", "export", "--namespace=tenant-a", "--period="+time.Now().UTC().Format("2006-01"), "--format=pdf", "--file="+pdf)
		if b, _ := os.ReadFile(pdf); !strings.HasPrefix(string(b), "%PDF-") {
			t.Fatalf("the export is not a PDF: %.16q", b)
		}
	}

	// Tamper with the key creation's row in the daemon's SQLite ledger.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(d.dir, "ledger.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var seq int64
	if err := db.QueryRow(`SELECT seq FROM audit WHERE namespace = 'tenant-a' AND type = 'apikey'`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET actor = 'nobody' WHERE namespace = 'tenant-a' AND seq = ?`, seq); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := d.clawd("audit", "verify", "--namespace=tenant-a")
	if want := fmt.Sprintf("broken at record %d", seq); err == nil || !strings.Contains(errOut, want) {
		t.Fatalf("verify after tampering: %v %q, want %q", err, errOut, want)
	}
}

// kill -9 during a burst of audited changes: the chain still verifies after
// the restart, and new records continue it.
func TestAuditSurvivesKill9(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "alpha", "--warmup-on-create=false")
	token := d.adminToken()
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"value":"%dm"}`, 1+(w*1000+i)%10000)
				req, _ := http.NewRequest("PUT", "http://"+d.apiAddr+"/api/v1/config/namespaces.alpha.idle.pauseAfter", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := c.Do(req)
				if err != nil {
					return // the daemon is gone
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked.Add(1)
				}
			}
		}()
	}
	// Mid-burst: some changes are committed (and seen), more are in flight.
	var committed int64
	c := &http.Client{Timeout: 10 * time.Second}
	d.kill9When(60*time.Second, "a burst of audited changes", func() bool {
		req, _ := http.NewRequest("GET", "http://"+d.apiAddr+"/api/v1/audit/verify?namespace=alpha", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var v audit.Verification
		if json.NewDecoder(resp.Body).Decode(&v) != nil || !v.OK {
			return false
		}
		committed = v.Records
		return committed >= 30
	})
	close(stop)
	wg.Wait()

	d.start()
	var v audit.Verification
	if err := json.Unmarshal([]byte(d.mustClawd("audit", "verify", "--namespace=alpha", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if !v.OK || v.Records < committed {
		t.Fatalf("after kill -9: %+v; %d records were committed before it", v, committed)
	}
	if v.Anchor != nil && v.Anchor.Seq > v.Head.Seq {
		t.Fatalf("the anchor is ahead of the records: %+v", v)
	}
	before := v.Records
	d.mustClawd("config", "set", "namespaces.alpha.idle.pauseAfter", "50m")
	var recs []audit.Record
	eventually(t, 30*time.Second, "the change after the restart", func() bool {
		recs = auditRecords(t, d, "--namespace=alpha", "--event-type=config_change")
		return len(recs) > 0 && recs[len(recs)-1].After == "50m"
	})
	// The anchor follows the commit it names.
	eventually(t, 30*time.Second, "the anchor at the new head", func() bool {
		if err := json.Unmarshal([]byte(d.mustClawd("audit", "verify", "--namespace=alpha", "-o", "json")), &v); err != nil {
			t.Fatal(err)
		}
		if !v.OK {
			t.Fatalf("after the restart and a change: %+v", v)
		}
		return v.Records > before && v.Anchor != nil && v.Anchor.Seq == v.Head.Seq
	})
	t.Logf("kill -9 mid-burst: %d changes acknowledged, %d records seen committed, %d after the restart; the chain verifies", acked.Load(), committed, before)
}
