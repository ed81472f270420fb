package integration

import (
	"strings"
	"testing"
	"time"
)

// TestRetentionOpenClaw: on the real image, a chat writes a transcript in
// the namespace's data volume; a cleanup removes it; a new chat works.
func TestRetentionOpenClaw(t *testing.T) {
	image := e2eImage(t)
	d := startDaemon(t, e2eGatewayFlags(image)...)
	fp, fakeURL := startFakeProvider(t)
	_ = fp
	d.addProvider("anthropic", "anthropic-messages", fakeURL, fakeProviderKey, "claude-sonnet-4-5")
	d.mustClawd("config", "set", "namespaces.*.models.primary", "anthropic/claude-sonnet-4-5")
	d.mustClawd("namespace", "create", "ret", "--hostname=ret.localhost")
	ocDialRetry(t, d, "ret.localhost", nil, 8*time.Minute).close()
	eventually(t, 90*time.Second, "a chat answered by the fake provider", func() bool {
		code, text := d.chat("ret.localhost", "", false)
		return code == 200 && strings.Contains(text, "fake provider")
	})
	id := d.get("ret").Status.ContainerID
	t.Logf("state dir:\n%s", d.execGateway(t, id, "sh", "-c", "find /home/node/.openclaw /tmp -path '*control-ui-assets*' -prune -o -type f -printf '%TY-%Tm-%Td %TT %s %p\\n' 2>/dev/null | grep -v node_modules | head -200"))
	const dump = `const {DatabaseSync}=require("node:sqlite"); const db=new DatabaseSync(process.argv[1],{readOnly:true}); for (const r of db.prepare("select name, sql from sqlite_master").all()) { console.log(r.sql); if (r.sql && r.sql.startsWith("CREATE TABLE")) { try { console.log("  rows:", db.prepare("select count(*) n from \"" + r.name + "\"").get().n); console.log("  first:", JSON.stringify(db.prepare("select * from \"" + r.name + "\" limit 2").all()).slice(0, 1500)); } catch (e) { console.log(e.message) } } }`
	t.Logf("agent db:\n%s", d.execGateway(t, id, "node", "-e", dump, "/home/node/.openclaw/agents/main/agent/openclaw-agent.sqlite"))
	t.Logf("state db:\n%s", d.execGateway(t, id, "sh", "-c", "ls -la /home/node/.openclaw /home/node/.openclaw/state /tmp/openclaw 2>&1"))
}
