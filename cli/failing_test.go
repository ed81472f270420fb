package cli

import (
	"strings"
	"testing"
	"time"
)

// A Failed namespace shows why, its gateway's last log lines and when clawd
// tries again, in namespace get and in status.
func TestFailedNamespaceShowsItsNextTry(t *testing.T) {
	next := time.Now().Add(4*time.Minute + 30*time.Second).UTC().Format(time.RFC3339)
	fakeDaemon(t, map[string]string{
		"GET /api/v1/namespaces/loopy": `{"spec":{"name":"loopy","createdAt":"2026-05-01T00:00:00Z"},
"status":{"phase":"Failed","restarts":6,"reason":"exited with code 1; last log line: boom","logTail":["starting","boom"],
"since":"2026-05-01T00:00:00Z","nextTry":"` + next + `"}}`,
		"GET /api/v1/status": `{"cluster":"c","node":"n","namespaces":1,"phases":{"Failed":1},"public":[],
"failing":[{"name":"loopy","reason":"exited with code 1","nextTry":"` + next + `"}]}`,
	})
	out, _, err := runCLI("namespace", "get", "loopy")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Next try:", "in 4m", "'clawd namespace wake loopy' tries now", "Last log lines", "boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("namespace get lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI("status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Failed:") || !strings.Contains(out, "loopy, next try in 4m") || !strings.Contains(out, "exited with code 1") {
		t.Errorf("status does not list the failing namespace:\n%s", out)
	}
}
