package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every bad input gets one clear line on stderr, a non-zero exit, and
// leaves nothing behind.
func TestBadInputIsRefusedWithOneLine(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "taken", "--hostname=taken.localhost", "--wait=false")

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"uppercase name", []string{"namespace", "create", "Tenant-A"}, "invalid namespace name"},
		{"name too long", []string{"namespace", "create", strings.Repeat("a", 41)}, "invalid namespace name"},
		{"trailing dash", []string{"namespace", "create", "tenant-"}, "invalid namespace name"},
		{"duplicate namespace", []string{"namespace", "create", "taken"}, "exists"},
		{"duplicate hostname", []string{"namespace", "create", "other", "--hostname=TAKEN.localhost"}, `"taken.localhost" is already used by namespace "taken"`},
		{"bad hostname", []string{"namespace", "create", "other", "--hostname=http://x.com"}, "invalid hostname"},
		{"bad memory", []string{"namespace", "create", "other", "--quota-memory=8Gx"}, "--quota-memory"},
		{"negative cpu", []string{"namespace", "create", "other", "--quota-cpu=-1"}, "--quota-cpu"},
		{"unknown config key", []string{"config", "set", "namespaces.taken.modles.primary", "gpt-4o"}, "unknown"},
		{"bad duration", []string{"config", "set", "namespaces.taken.dataRetention.logs", "30x"}, "dataRetention.logs"},
		{"bad bool", []string{"config", "set", "security.crossNamespaceAccess", "maybe"}, "crossNamespaceAccess"},
		{"config for missing namespace", []string{"config", "set", "namespaces.nope.models.primary", "gpt-4o"}, "namespace nope does not exist"},
		{"get missing namespace", []string{"namespace", "get", "nope"}, "not found"},
		{"bad output", []string{"namespace", "list", "-o", "xml"}, "invalid --output"},
		{"missing arg", []string{"namespace", "create"}, "needs NAME"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := d.clawd(tc.args...)
			if err == nil {
				t.Fatalf("exit 0; stdout %q", out)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "clawd: ") || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr %q: want one line 'clawd: …%s…'", errOut, tc.want)
			}
		})
	}
	l := d.list()
	if len(l) != 1 || l[0].Spec.Name != "taken" {
		t.Fatalf("namespaces after bad input: %+v", l)
	}
	// taken was created without waiting: its network exists once it runs,
	// however slow the engine (counting before that raced the create).
	d.waitPhase("taken", "Running", time.Minute)
	if n := len(dockerLines(t, "network", "ls", "-q", "--filter", "label=io.clawd.cluster="+d.cluster)); n != 1 {
		t.Fatalf("%d networks, want only taken's", n)
	}

	// Good config values round-trip in their canonical form; a model must
	// be one a provider offers (nothing calls this one).
	if _, errOut, err := d.clawd("config", "set", "namespaces.taken.models.primary", "gpt-4o"); err == nil || !strings.Contains(errOut, "clawd provider add") {
		t.Errorf("a model with no provider: err %v, %q; want a refusal saying how to add one", err, errOut)
	}
	d.addProvider("openai", "openai-completions", "http://127.0.0.1:9/v1", "sk-unused", "gpt-4o")
	d.mustClawd("config", "set", "namespaces.taken.models.primary", "gpt-4o")
	d.mustClawd("config", "set", "namespaces.*.autoCleanup.after=1h")
	if got := strings.TrimSpace(d.mustClawd("config", "get", "namespaces.taken.autoCleanup.after")); got != "1h" {
		t.Fatalf("inherited autoCleanup.after = %q, want 1h", got)
	}
}

func TestUpRefusesBadStaticConfig(t *testing.T) {
	needDocker(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "clawd.yaml")
	os.WriteFile(file, []byte("router:\n  adress: \":80\"\n"), 0o600)
	top := filepath.Join(dir, "top.yaml")
	os.WriteFile(top, []byte("routr:\n  address: \":80\"\n"), 0o600)
	cases := map[string][]string{
		"unknown flag":       {"up", "--router.adress=:80"},
		"unknown nested key": {"up", "--configfile=" + file},
		"unknown top key":    {"up", "--configfile", top},
		"bad log format":     {"up", "--log.format=xml"},
		"bad duration":       {"up", "--supervisor.backoffmax=soon"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(clawdBin, append(args, "--datadir="+dir)...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("clawd %v exited 0: %s", args, out)
			}
			if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "clawd: ") {
				t.Fatalf("want one error line, got %q", out)
			}
		})
	}
}
