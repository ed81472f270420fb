package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/retention"
)

// cleanup runs `clawd namespace cleanup -o json` and returns its report by kind.
func cleanup(t *testing.T, d *daemon, ns string, args ...string) map[retention.Kind]retention.KindReport {
	t.Helper()
	out := d.mustClawd(append([]string{"namespace", "cleanup", ns, "-o", "json"}, args...)...)
	var rep retention.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("cleanup printed %q: %v", out, err)
	}
	byKind := map[retention.Kind]retention.KindReport{}
	for _, k := range rep.Kinds {
		if k.Error != "" {
			t.Fatalf("cleanup of %s: %s failed: %s", ns, k.Kind, k.Error)
		}
		byKind[k.Kind] = k
	}
	return byKind
}

// dataDir is the namespace's data volume on this host.
func dataDir(t *testing.T, d *daemon, ns string) string {
	t.Helper()
	out, err := exec.Command("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", "clawd-"+d.cluster[:min(8, len(d.cluster))]+"-"+ns+"-data").CombinedOutput()
	if err != nil {
		t.Fatalf("inspecting %s's data volume: %v: %s", ns, err, out)
	}
	return strings.TrimSpace(string(out))
}

// plant writes a file into dir with mtime at, owned by the gateway user.
func plant(t *testing.T, dir, rel, data string, at time.Time) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chown(p, 1000, 1000)
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
	return p
}

// A stopped namespace is cleaned from the host without waking it: old
// transcripts and logs go, new ones and a link's target outside the
// volume stay; its ledger rows go; api_call and retention events are in
// the audit log; /metrics counts what went.
func TestNamespaceCleanupWhileStopped(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "tidy", "--hostname=tidy.localhost", "--warmup-on-create=false")
	if code, _ := d.viaRouter("tidy.localhost", "/healthz?secret=1"); code != 200 {
		t.Fatalf("GET /healthz via tidy.localhost: %d", code)
	}
	var calls []audit.Record
	eventually(t, 30*time.Second, "the api_call record", func() bool {
		calls = auditRecords(t, d, "--namespace=tidy", "--event-type=api_call")
		return findRecord(calls, func(r audit.Record) bool { return r.Action == "GET /healthz" }) != nil
	})
	if r := findRecord(calls, func(r audit.Record) bool { return r.Action == "GET /healthz" }); r.Outcome != "success" || r.Target != "tidy.localhost" ||
		!strings.HasPrefix(r.Detail, "status 200") || strings.Contains(r.Action, "secret") {
		t.Fatalf("api_call record %+v", r)
	}
	// The request's usage reaches the ledger (1 s flushes).
	eventually(t, 30*time.Second, "tidy's ledger rows", func() bool {
		return cleanup(t, d, "tidy", "--older-than=0s", "--kind=metrics")[retention.Metrics].Count > 0
	})

	d.sleepTo("tidy", "stopped")
	id := d.get("tidy").Status.ContainerID
	vol := dataDir(t, d, "tidy")
	old := time.Now().Add(-100 * 24 * time.Hour)
	oldTranscript := plant(t, vol, "agents/main/sessions/2f1c.jsonl", strings.Repeat("t", 1000), old)
	newTranscript := plant(t, vol, "agents/main/sessions/9e0d.jsonl", "new", time.Now())
	oldLog := plant(t, vol, "logs/config-audit.jsonl", strings.Repeat("l", 300), old)
	outside := plant(t, t.TempDir(), "host-secret.jsonl", "not the tenant's", old)
	if err := os.Symlink(outside, filepath.Join(vol, "agents/main/sessions/escape.jsonl")); err != nil {
		t.Fatal(err)
	}

	dry := cleanup(t, d, "tidy", "--older-than=90d")
	if c := dry[retention.Conversations]; c.Count != 1 || c.Bytes != 1000 || c.Skipped != 1 {
		t.Fatalf("dry run, conversations: %+v; want 1 file of 1000 bytes, the link skipped", c)
	}
	if l := dry[retention.Logs]; l.Count != 1 || l.Bytes != 300 {
		t.Fatalf("dry run, logs: %+v", l)
	}
	for _, p := range []string{oldTranscript, oldLog} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the dry run removed %s: %v", p, err)
		}
	}

	done := cleanup(t, d, "tidy", "--older-than=90d", "--dry-run=false")
	if done[retention.Conversations].Count != 1 || done[retention.Logs].Count != 1 {
		t.Fatalf("cleanup: %+v", done)
	}
	for p, want := range map[string]bool{oldTranscript: false, oldLog: false, newTranscript: true, outside: true} {
		if _, err := os.Lstat(p); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", p, err == nil, want)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "not the tenant's" {
		t.Errorf("the file outside the volume changed: %q", b)
	}
	m := cleanup(t, d, "tidy", "--older-than=0s", "--kind=metrics", "--dry-run=false")[retention.Metrics]
	if m.Count == 0 {
		t.Fatalf("no ledger rows removed: %+v", m)
	}
	if again := cleanup(t, d, "tidy", "--older-than=0s", "--kind=metrics")[retention.Metrics]; again.Count != 0 {
		t.Fatalf("ledger rows left after the purge: %+v", again)
	}

	// Asleep all along: the phase and the container.
	if v := d.get("tidy"); v.Status.Phase != "Stopped" {
		t.Fatalf("phase after cleanup: %s, want Stopped", v.Status.Phase)
	}
	if state := dockerInspect(t, "{{.State.Status}}", id); state != "exited" {
		t.Fatalf("container %s after cleanup: %s, want exited", id, state)
	}

	var rets []audit.Record
	eventually(t, 30*time.Second, "the retention records", func() bool {
		rets = auditRecords(t, d, "--namespace=tidy", "--event-type=retention")
		return len(rets) == 2
	})
	if !strings.Contains(rets[0].Detail, "conversations older than 90d: 1 ") || rets[0].Actor != "admin-token" || rets[0].Action != "cleanup" {
		t.Fatalf("retention record %+v", rets[0])
	}
	_, metrics := d.scrape(d.adminToken())
	for _, want := range []string{`clawd_retention_removed_total{kind="conversations"} 1`, `clawd_retention_removed_bytes_total{kind="logs"} 300`,
		`clawd_retention_cleanups_total{dry_run="true",trigger="request"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !regexp.MustCompile(`clawd_audit_dropped_total 0\b`).MatchString(metrics) {
		t.Errorf("/metrics lacks clawd_audit_dropped_total 0")
	}

	// Bad input: one line, nothing done.
	for _, args := range [][]string{{"--older-than=90x"}, {}, {"--older-than=1d", "--kind=chats"}} {
		_, stderr, err := d.clawd(append([]string{"namespace", "cleanup", "tidy"}, args...)...)
		if err == nil || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("cleanup %q: err %v, stderr %q; want one line", args, err, stderr)
		}
	}
}

// The daily pass applies dataRetention: the first pass soon after start.
func TestRetentionPass(t *testing.T) {
	d := startDaemon(t, "--retention.firstafter=2s", "--retention.interval=2s")
	d.mustClawd("namespace", "create", "aged", "--warmup-on-create=false")
	d.mustClawd("config", "set", "namespaces.aged.dataRetention.logs", "30d")
	d.sleepTo("aged", "stopped")
	vol := dataDir(t, d, "aged")
	oldLog := plant(t, vol, "logs/commands.log", "x", time.Now().Add(-31*24*time.Hour))
	newLog := plant(t, vol, "logs/recent.log", "y", time.Now().Add(-29*24*time.Hour))
	oldTranscript := plant(t, vol, "agents/main/sessions/a.jsonl", "z", time.Now().Add(-365*24*time.Hour))
	eventually(t, 30*time.Second, "the pass to remove the old log", func() bool {
		_, err := os.Stat(oldLog)
		return os.IsNotExist(err)
	})
	for _, p := range []string{newLog, oldTranscript} { // conversations: no retention set
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want kept", p, err)
		}
	}
	eventually(t, 30*time.Second, "the pass's audit record", func() bool {
		return findRecord(auditRecords(t, d, "--namespace=aged", "--event-type=retention"), func(r audit.Record) bool {
			return r.Action == "retention" && r.Actor == "system" && strings.Contains(r.Detail, "logs older than 30d: 1 ")
		}) != nil
	})
	if v := d.get("aged"); v.Status.Phase != "Stopped" {
		t.Fatalf("phase after the pass: %s", v.Status.Phase)
	}
}
