package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// gatewayFile reads a file out of a namespace's gateway container.
func gatewayFile(t *testing.T, id, path string) []byte {
	t.Helper()
	out, err := exec.Command("docker", "cp", id+":"+path, "-").Output()
	if err != nil {
		t.Fatalf("docker cp %s: %v", path, err)
	}
	// docker cp to stdout writes a tar: header block, then the data.
	if len(out) < 512 {
		t.Fatalf("docker cp %s: short archive", path)
	}
	data := out[512:]
	if i := strings.IndexByte(string(data), 0); i >= 0 {
		data = data[:i]
	}
	return data
}

func (d *daemon) standin(host string) standinInfo {
	d.t.Helper()
	code, body := d.viaRouter(host, "/__standin")
	var info standinInfo
	if code != 200 || json.Unmarshal(body, &info) != nil {
		d.t.Fatalf("GET /__standin via %s: %d %s", host, code, body)
	}
	return info
}

// clawd writes each gateway's openclaw.json before its first start and
// rewrites it when `clawd config set` changes what it holds: the running
// gateway picks the change up (OpenClaw hot-reloads the file) and is not
// restarted. Warm-pool gateways get their namespace's config on adoption.
func TestConfigSetReachesTheRunningGateway(t *testing.T) {
	d := startDaemon(t, "--warmpool.size=1")
	// Models must be offered by a provider; nothing calls this one.
	d.addProvider("anthropic", "anthropic-messages", "http://127.0.0.1:9", "sk-unused", "claude-sonnet-4-5", "claude-haiku-4-5")
	d.mustClawd("config", "set", "namespaces.*.models.primary", "anthropic/claude-sonnet-4-5")
	d.mustClawd("namespace", "create", "cold", "--hostname=cold.localhost", "--warmup-on-create=false")

	first := d.standin("cold.localhost")
	if first.ModelPrimary != "clawd-anthropic/claude-sonnet-4-5" {
		t.Fatalf("first boot saw model %q, want the every-namespace default", first.ModelPrimary)
	}
	v := d.get("cold")
	var cfg struct {
		Gateway struct {
			TrustedProxies []string `json:"trustedProxies"`
			Auth           struct {
				Mode         string `json:"mode"`
				TrustedProxy struct {
					UserHeader string `json:"userHeader"`
				} `json:"trustedProxy"`
			} `json:"auth"`
			ControlUI struct {
				AllowedOrigins []string `json:"allowedOrigins"`
			} `json:"controlUi"`
		} `json:"gateway"`
	}
	raw := gatewayFile(t, v.Status.ContainerID, "/home/node/.openclaw/openclaw.json")
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("openclaw.json: %v\n%s", err, raw)
	}
	// The gateway trusts only the host's address on its network, where the
	// router's connections come from: not the pool, which holds its own.
	netGateway := dockerInspect(t, "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}", v.Status.ContainerID)
	if !slices.Equal(cfg.Gateway.TrustedProxies, []string{netGateway}) || cfg.Gateway.Auth.Mode != "trusted-proxy" ||
		cfg.Gateway.Auth.TrustedProxy.UserHeader != "x-clawd-user" {
		t.Errorf("openclaw.json trusts %v in mode %s (user header %q), want only the host's address %s", cfg.Gateway.TrustedProxies,
			cfg.Gateway.Auth.Mode, cfg.Gateway.Auth.TrustedProxy.UserHeader, netGateway)
	}
	if o := strings.Join(cfg.Gateway.ControlUI.AllowedOrigins, " "); !strings.Contains(o, "http://cold.localhost:") || !strings.Contains(o, "https://cold.localhost") {
		t.Errorf("allowed origins %q lack the namespace's hostname", o)
	}
	if env := dockerInspect(t, "{{json .Config.Env}}", v.Status.ContainerID); strings.Contains(env, "OPENCLAW_GATEWAY_TOKEN") {
		t.Errorf("a gateway token is set (%s): trusted-proxy mode refuses to start with one", env)
	}

	d.mustClawd("config", "set", "namespaces.cold.models.primary", "anthropic/claude-haiku-4-5")
	var now standinInfo
	eventually(t, 30*time.Second, "the running gateway sees the new model", func() bool {
		now = d.standin("cold.localhost")
		return now.ModelPrimary == "clawd-anthropic/claude-haiku-4-5"
	})
	if now.BootCount != first.BootCount || now.PID != first.PID || d.get("cold").Status.ContainerID != v.Status.ContainerID {
		t.Errorf("the gateway was restarted for a config change: boot %d → %d, pid %d → %d", first.BootCount, now.BootCount, first.PID, now.PID)
	}
	// An adopted spare booted with a spare's config; its namespace's replaces it.
	eventually(t, time.Minute, "a ready spare", func() bool { return d.poolReady() == 1 })
	d.mustClawd("namespace", "create", "warm", "--hostname=warm.localhost")
	eventually(t, 30*time.Second, "the adopted gateway sees its namespace's model", func() bool {
		return d.standin("warm.localhost").ModelPrimary == "clawd-anthropic/claude-sonnet-4-5"
	})
	if spare := dockerInspect(t, `{{index .Config.Labels "io.clawd.spare"}}`, d.get("warm").Status.ContainerID); spare == "" {
		t.Error("namespace warm did not adopt a spare")
	}
}

// skillDir makes a host directory holding one skill, readable by the
// gateway's user like an operator's skills directory must be.
func skillDir(t *testing.T, skill string) string {
	t.Helper()
	dir, err := os.MkdirTemp(skillsRoot, "clawd-skills-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.MkdirAll(filepath.Join(dir, skill), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, skill, "SKILL.md"), []byte("---\nname: "+skill+"\ndescription: test skill\n---\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// namespaces.<ns>.skills.path mounts a host directory read-only into the
// namespace's gateway, which loads the skills in it; a new path re-creates
// the gateway on the same volumes; system directories are refused.
func TestSkillsPathReachesTheGateway(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "skilled", "--hostname=skilled.localhost")
	before := d.waitPhase("skilled", "Running", time.Minute)
	volumes := func(id string) string {
		f := strings.Fields(dockerInspect(t, `{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`, id))
		slices.Sort(f)
		return strings.Join(f, " ")
	}
	was := volumes(before.Status.ContainerID)

	first := skillDir(t, "weather")
	d.mustClawd("config", "set", "namespaces.skilled.skills.path", first)
	eventually(t, time.Minute, "the gateway loads the skill from the host directory", func() bool {
		return strings.Join(d.standin("skilled.localhost").Skills, ",") == "weather"
	})
	v := d.get("skilled")
	if v.Status.ContainerID == before.Status.ContainerID {
		t.Fatal("the container was not re-created: a mount cannot be added to it")
	}
	if m := dockerInspect(t, `{{range .Mounts}}{{if eq .Type "bind"}}{{.Source}} rw={{.RW}}{{end}}{{end}}`, v.Status.ContainerID); m != first+" rw=false" {
		t.Errorf("bind mounts %q, want %s read-only", m, first)
	}
	if now := volumes(v.Status.ContainerID); now != was {
		t.Errorf("volumes %q, want the namespace's own kept (%q)", now, was)
	}

	second := skillDir(t, "news")
	d.mustClawd("config", "set", "namespaces.skilled.skills.path", second)
	eventually(t, time.Minute, "the gateway loads the skill from the new directory", func() bool {
		return strings.Join(d.standin("skilled.localhost").Skills, ",") == "news"
	})

	// Only under --skills.roots, and never over clawd's own data dir.
	for path, want := range map[string]string{
		"/etc":       "outside /etc",
		t.TempDir():  "is not under the skills roots",
		d.dir:        "overlaps clawd's own",
		d.dir + "/x": "overlaps clawd's own",
	} {
		_, stderr, err := d.clawd("config", "set", "namespaces.skilled.skills.path", path)
		if err == nil || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, want) {
			t.Errorf("skills.path %s: err %v, stderr %q; want one line with %q", path, err, stderr, want)
		}
	}

	// The directory swapped for a symlink to /etc while the gateway is
	// stopped: the wake must not start it, or it would mount the host's /etc.
	d.mustClawd("namespace", "sleep", "skilled", "--to=stopped")
	stopped := d.waitPhase("skilled", "Stopped", time.Minute)
	if err := os.RemoveAll(second); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", second); err != nil {
		t.Fatal(err)
	}
	d.mustClawd("namespace", "wake", "skilled", "--wait=false")
	pending := d.waitPhase("skilled", "Pending", time.Minute)
	if !strings.Contains(pending.Status.Reason, "not started") || !strings.Contains(pending.Status.Reason, "lies in /etc") {
		t.Errorf("reason %q, want the refused start and why", pending.Status.Reason)
	}
	if state := dockerInspect(t, `{{.State.Status}}`, stopped.Status.ContainerID); state != "exited" {
		t.Errorf("the gateway is %s, want it left stopped", state)
	}
}

// A skills.path that the skills roots no longer allow (an upgrade from
// before --skills.roots, or a root taken away) is named in the log at start.
func TestRefusedSkillsPathIsLoggedAtStart(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "skilled", "--hostname=skilled.localhost", "--wait=false")
	d.mustClawd("config", "set", "namespaces.skilled.skills.path", skillDir(t, "weather"))
	d.stop()
	other := t.TempDir()
	for i, a := range d.args {
		if strings.HasPrefix(a, "--skills.roots=") {
			d.args[i] = "--skills.roots=" + other
		}
	}
	d.start()
	if log := d.log(); !strings.Contains(log, "skills.path refused") || !strings.Contains(log, "namespaces.skilled.skills.path") {
		t.Errorf("the log does not name the refused skills.path:\n%s", log)
	}
}
