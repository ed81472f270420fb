package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/retention"
)

// countAgentDB counts rows in a running real gateway's agent database,
// through node:sqlite inside the container (as the gateway user).
func countAgentDB(t *testing.T, d *daemon, id, table string) int {
	t.Helper()
	const js = `const {DatabaseSync}=require("node:sqlite"); const db=new DatabaseSync("/home/node/.openclaw/agents/main/agent/openclaw-agent.sqlite",{readOnly:true}); console.log(db.prepare("select count(*) n from " + process.argv[1]).get().n)`
	out := strings.TrimSpace(d.execGateway(t, id, "node", "-e", js, table))
	n, err := strconv.Atoi(out[strings.LastIndex(out, "\n")+1:])
	if err != nil {
		t.Fatalf("counting %s: %q", table, out)
	}
	return n
}

// TestRetentionOpenClaw, on the real image: a chat's conversation lands in
// OpenClaw 2026.9.6's agent database (no transcript file); cleanup of the
// running namespace defers the database; stopped, cleanup --older-than=0s
// removes the conversation without waking it; woken, the gateway starts
// on the cleaned database and a new chat works.
func TestRetentionOpenClaw(t *testing.T) {
	image := e2eImage(t)
	d := startDaemon(t, e2eGatewayFlags(image)...)
	_, fakeURL := startFakeProvider(t)
	d.addProvider("anthropic", "anthropic-messages", fakeURL, fakeProviderKey, "claude-sonnet-4-5")
	d.mustClawd("config", "set", "namespaces.*.models.primary", "anthropic/claude-sonnet-4-5")
	d.mustClawd("namespace", "create", "ret", "--hostname=ret.localhost", "--wait=false") // a slow boot on a busy host is retried by the supervisor
	ocDialRetry(t, d, "ret.localhost", nil, 8*time.Minute).close()
	chat := func(what string) {
		t.Helper()
		eventually(t, 3*time.Minute, what, func() bool {
			code, text := d.chat("ret.localhost", "", false)
			return code == 200 && strings.Contains(text, "fake provider")
		})
	}
	chat("a chat answered by the fake provider")
	id := d.get("ret").Status.ContainerID
	if n := countAgentDB(t, d, id, "transcript_events"); n == 0 {
		t.Fatalf("the chat left no transcript events in the agent database")
	}
	sessions := countAgentDB(t, d, id, "session_nodes")

	running := cleanup(t, d, "ret", "--older-than=0s", "--kind=conversations")[retention.Conversations]
	if running.Deferred == "" || running.Count != 0 {
		t.Fatalf("cleanup of a running gateway: %+v; want the database deferred", running)
	}

	d.sleepTo("ret", "stopped")
	dry := cleanup(t, d, "ret", "--older-than=0s", "--kind=conversations")[retention.Conversations]
	if dry.Count != int64(sessions) || dry.Bytes == 0 {
		t.Fatalf("dry run on the stopped namespace: %+v; want %d conversations", dry, sessions)
	}
	start := time.Now()
	done := cleanup(t, d, "ret", "--older-than=0s", "--kind=conversations", "--dry-run=false")[retention.Conversations]
	t.Logf("FIGURE cleanup of %d conversation(s), %d bytes of transcript, stopped real gateway: %s", done.Count, done.Bytes, time.Since(start).Round(time.Millisecond))
	if done.Count != int64(sessions) {
		t.Fatalf("cleanup: %+v", done)
	}
	if v := d.get("ret"); v.Status.Phase != "Stopped" {
		t.Fatalf("phase after cleanup: %s, want Stopped", v.Status.Phase)
	}
	m := cleanup(t, d, "ret", "--older-than=0s", "--kind=metrics", "--dry-run=false")[retention.Metrics]
	if m.Count == 0 {
		t.Fatalf("no ledger rows of ret removed: %+v", m)
	}

	d.mustClawd("namespace", "wake", "ret")
	d.waitPhase("ret", "Running", 5*time.Minute)
	id = d.get("ret").Status.ContainerID
	if n := countAgentDB(t, d, id, "transcript_events"); n != 0 {
		t.Fatalf("%d transcript events after the cleanup", n)
	}
	chat("a chat after the cleanup")
	if n := countAgentDB(t, d, id, "session_nodes"); n != 1 {
		t.Fatalf("%d sessions after a new chat, want 1", n)
	}
	calls := auditRecords(t, d, "--namespace=ret", "--event-type=api_call")
	if findRecord(calls, func(r audit.Record) bool { return r.Action == "POST /v1/chat/completions" && r.Outcome == "success" }) == nil {
		t.Fatalf("no api_call record of the chat: %+v", calls)
	}
	if findRecord(calls, func(r audit.Record) bool { return strings.HasPrefix(r.Action, "ws connect") }) == nil {
		t.Errorf("no api_call record of the WebSocket connect request: %+v", calls)
	}
}
