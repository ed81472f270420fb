package openclawcfg

import (
	"errors"
	"fmt"
	"github.com/clawd-dev/clawd/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/config"
)

// TestGoldenFilesValidate has the real gateway image check every golden
// file with `openclaw config validate`: OpenClaw refuses unknown keys (the
// gateway exits 78), so a key this package writes that the pinned
// OpenClaw does not know fails here, not in a tenant's gateway. It needs
// the image from `make gateway-image`; without it the test skips, unless
// CLAWD_E2E_OPENCLAW=1 (make e2e-openclaw), where a missing image fails.
func TestGoldenFilesValidate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real gateway image; -short given")
	}
	image := os.Getenv("CLAWD_GATEWAY_IMAGE")
	if image == "" {
		image = config.DefaultGatewayImage
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		testenv.Missing(t, "no Docker engine answers: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		if os.Getenv("CLAWD_E2E_OPENCLAW") == "1" {
			t.Fatalf("gateway image %s is missing: run make gateway-image", image)
		}
		testenv.Missing(t, "gateway image %s is missing (make gateway-image builds it)", image)
	}

	dir := t.TempDir()
	golden, err := filepath.Glob("testdata/*.json")
	if err != nil || len(golden) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	var names []string
	for _, g := range golden {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(g)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	// A control: proves the validator rejects what the gateway would.
	const bad = "zz-unknown-key.json"
	if err := os.WriteFile(filepath.Join(dir, bad), []byte(`{"gateway":{"mode":"local","clawd":true}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	names = append(names, bad)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	// One container validates every file, in parallel: each run loads
	// OpenClaw (about 7 s).
	var script strings.Builder
	for _, n := range names {
		fmt.Fprintf(&script, "(OPENCLAW_CONFIG_PATH=/cfg/%[1]s openclaw config validate >/tmp/%[1]s.log 2>&1; echo \"$? %[1]s\" >>/tmp/results) &\n", n)
	}
	script.WriteString("wait; cat /tmp/results; for f in /tmp/*.log; do echo \"== $f\"; cat \"$f\"; done\n")
	cmd := exec.Command("docker", "run", "--rm", "--network=none", "--entrypoint", "sh",
		"-e", "HOME=/tmp", "-v", dir+":/cfg:ro", image, "-c", script.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("running openclaw config validate: %v\n%s", err, out)
	}
	codes := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if code, name, ok := strings.Cut(line, " "); ok && strings.HasSuffix(name, ".json") && !strings.Contains(name, "/") {
			codes[name] = code
		}
	}
	for _, n := range names {
		want := "0"
		if n == bad {
			want = "1"
		}
		if codes[n] != want {
			t.Errorf("openclaw config validate %s: exit %q, want %s", n, codes[n], want)
		}
	}
	if t.Failed() {
		t.Logf("validator output:\n%s", out)
	}

	// And the gateway itself refuses the control at start-up with exit 78,
	// so what the validator accepts is what a tenant's gateway would run.
	run := exec.Command("docker", "run", "--rm", "--network=none", "-e", "OPENCLAW_GATEWAY_TOKEN=validate",
		"-e", "OPENCLAW_CONFIG_PATH=/cfg/"+bad, "-v", dir+":/cfg:ro", image)
	out, err = run.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 78 || !strings.Contains(string(out), `Unrecognized key: "clawd"`) {
		t.Errorf("the gateway on %s: %v, want exit 78 naming the unknown key\n%s", bad, err, out)
	}
}
