package cli

import (
	"strings"
	"testing"
)

func TestConsolePrintsTheURL(t *testing.T) {
	fakeDaemon(t, map[string]string{"GET /api/v1/status": `{"cluster":"c","node":"n","namespaces":0,"phases":{},"public":[]}`})
	out, _, err := runCLI("console")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "http://127.0.0.1:") || !strings.HasSuffix(out, "/console/\n") {
		t.Errorf("clawd console printed %q, want the daemon's address and /console/", out)
	}
}

func TestConsoleNeedsTheDaemon(t *testing.T) {
	t.Setenv("CLAWD_ADDR", "http://127.0.0.1:1")
	t.Setenv("CLAWD_TOKEN", "t")
	out, _, err := runCLI("console")
	if err == nil || !strings.Contains(err.Error(), "clawd up") || out != "" {
		t.Errorf("with no daemon: out %q, err %v; want no URL and the unreachable error", out, err)
	}
}
