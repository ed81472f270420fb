package retention

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	now  = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	old  = now.Add(-100 * 24 * time.Hour)
	cut  = now.Add(-90 * 24 * time.Hour)
	edge = cut // exactly at the cutoff: kept
)

// write makes dir/rel with data and mtime at.
func write(t *testing.T, dir, rel, data string, at time.Time) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
	return p
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func sweep(t *testing.T, dir string, kind Kind, dryRun bool) KindReport {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var kr KindReport
	if err := sweepFiles(root, kind, cut, dryRun, &kr); err != nil {
		t.Fatalf("sweep %s: %v", kind, err)
	}
	return kr
}

func TestSweepConversationsByCutoff(t *testing.T) {
	vol := t.TempDir()
	oldT := write(t, vol, "agents/main/sessions/s1.jsonl", "0123456789", old)
	oldArch := write(t, vol, "agents/ops/sessions/cold/s2.jsonl.zst", "abc", old)
	atEdge := write(t, vol, "agents/main/sessions/s3.jsonl", "x", edge)
	fresh := write(t, vol, "agents/main/sessions/s4.trajectory.jsonl", "x", now)
	notTranscript := write(t, vol, "agents/main/sessions/notes.txt", "x", old)
	elsewhere := write(t, vol, "workspace/s5.jsonl", "x", old)
	logOld := write(t, vol, "logs/config-audit.jsonl", "12345", old)

	dry := sweep(t, vol, Conversations, true)
	if dry.Count != 2 || dry.Bytes != 13 {
		t.Fatalf("dry run = %d files, %d bytes; want 2, 13 (%+v)", dry.Count, dry.Bytes, dry.Items)
	}
	for _, p := range []string{oldT, oldArch} {
		if !exists(p) {
			t.Fatalf("the dry run deleted %s", p)
		}
	}
	got := sweep(t, vol, Conversations, false)
	if got.Count != 2 || got.Bytes != 13 {
		t.Fatalf("cleanup = %d files, %d bytes; want 2, 13", got.Count, got.Bytes)
	}
	for p, want := range map[string]bool{oldT: false, oldArch: false, atEdge: true, fresh: true, notTranscript: true, elsewhere: true, logOld: true} {
		if exists(p) != want {
			t.Errorf("%s exists = %v, want %v", p, !want, want)
		}
	}
	logs := sweep(t, vol, Logs, false)
	if logs.Count != 1 || logs.Bytes != 5 || exists(logOld) {
		t.Fatalf("logs = %+v; want config-audit.jsonl removed", logs)
	}
}

// A tenant's links: to a file outside, a directory outside, and the
// sessions dir itself swapped for a link. Nothing outside is touched.
func TestSweepNeverFollowsLinksOut(t *testing.T) {
	outside := t.TempDir()
	victim := write(t, outside, "victim.jsonl", "secret", old)
	write(t, outside, "sessions/v2.jsonl", "secret", old)
	vol := t.TempDir()
	write(t, vol, "agents/main/sessions/real.jsonl", "x", old)
	if err := os.Symlink(victim, filepath.Join(vol, "agents/main/sessions/link.jsonl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "sessions"), filepath.Join(vol, "agents/main/sessions/sub")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(vol, "agents/evil"), 0o755)
	if err := os.Symlink(filepath.Join(outside, "sessions"), filepath.Join(vol, "agents/evil/sessions")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(vol, "logs")); err != nil {
		t.Fatal(err)
	}
	got := sweep(t, vol, Conversations, false)
	if got.Count != 1 || got.Skipped != 2 {
		t.Fatalf("cleanup = %d removed, %d skipped; want 1 (real.jsonl), 2 links skipped: %+v", got.Count, got.Skipped, got.Items)
	}
	sweep(t, vol, Logs, false)
	for _, p := range []string{victim, filepath.Join(outside, "sessions/v2.jsonl")} {
		if !exists(p) {
			t.Fatalf("%s, outside the volume, was deleted", p)
		}
	}
	if !exists(filepath.Join(vol, "agents/main/sessions/link.jsonl")) {
		t.Fatalf("the link itself was removed: links are left alone")
	}
}

func TestSweepPrunesTheLegacyIndex(t *testing.T) {
	vol := t.TempDir()
	write(t, vol, "agents/main/sessions/gone.jsonl", "x", old)
	write(t, vol, "agents/main/sessions/kept.jsonl", "x", now)
	idx := map[string]any{
		"agent:main:a": map[string]any{"sessionId": "gone", "updatedAt": 1},
		"agent:main:b": map[string]any{"sessionId": "kept", "sessionFile": "/home/node/.openclaw/agents/main/sessions/kept.jsonl"},
	}
	b, _ := json.Marshal(idx)
	p := write(t, vol, "agents/main/sessions/sessions.json", string(b), old)
	got := sweep(t, vol, Conversations, false)
	if got.Count != 1 {
		t.Fatalf("removed %d, want 1 (the index is not a transcript)", got.Count)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var after map[string]any
	if err := json.Unmarshal(b, &after); err != nil {
		t.Fatalf("the index is no longer JSON: %v: %s", err, b)
	}
	if _, ok := after["agent:main:a"]; ok || len(after) != 1 {
		t.Fatalf("index after cleanup: %s; want only agent:main:b", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 2 {
		t.Fatalf("left behind: %v", ents)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("index mode %v, want 0600 kept", fi.Mode())
	}
	if strings.Contains(string(b), "gone") {
		t.Fatalf("index still names the removed transcript: %s", b)
	}
}

func TestSweepDepthBounded(t *testing.T) {
	vol := t.TempDir()
	shallow := write(t, vol, "agents/main/sessions/cold/a.jsonl.zst", "x", old)
	deep := write(t, vol, "agents/main/sessions/"+strings.Repeat("d/", 12)+"b.jsonl", "x", old)
	got := sweep(t, vol, Conversations, false)
	if got.Count != 1 || exists(shallow) || !exists(deep) || got.Skipped != 1 {
		t.Fatalf("sweep = %+v: want the shallow archive removed, the deep tree skipped", got)
	}
}
