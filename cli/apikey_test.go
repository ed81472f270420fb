package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// fakeDaemon answers the admin API with canned replies and records the
// requests the CLI sent.
func fakeDaemon(t *testing.T, replies map[string]string) *[]string {
	t.Helper()
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Method+" "+r.URL.Path+" "+string(body))
		reply, ok := replies[r.Method+" "+r.URL.Path]
		if !ok {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"title":"Not Found","status":404,"detail":"getting namespace nope: namespace not found"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("CLAWD_ADDR", srv.URL)
	t.Setenv("CLAWD_TOKEN", "t")
	return &seen
}

func runCLI(args ...string) (stdout, stderr string, err error) {
	root := NewRoot(&cobra.Command{Use: "up"})
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetArgs(args)
	err = root.Execute()
	return o.String(), e.String(), err
}

const createdReply = `{"key":"sk-tenant-a-0abcdefghijklmnopqrstuvwxyzABCDEF","id":"key_0123456789","namespace":"tenant-a",
"name":"tenant-a-production","prefix":"sk-tenant-a-0abcde","rateLimit":"1000/hour","createdAt":"2026-05-01T00:00:00Z",
"expiresAt":"2027-05-01T00:00:00Z","status":"active"}`

func TestAPIKeyCreate(t *testing.T) {
	seen := fakeDaemon(t, map[string]string{"POST /api/v1/namespaces/tenant-a/apikeys": createdReply})

	out, errOut, err := runCLI("apikey", "create", "--namespace=tenant-a", `--name=tenant-a-production`, "--rate-limit=1000/hour", "--expires-in=365d")
	if err != nil {
		t.Fatal(err)
	}
	if out != "API Key: sk-tenant-a-0abcdefghijklmnopqrstuvwxyzABCDEF\n" {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errOut, "shown only once") || !strings.Contains(errOut, "此密钥只显示一次") {
		t.Errorf("stderr lacks the shown-once warning: %q", errOut)
	}
	want := `POST /api/v1/namespaces/tenant-a/apikeys {"name":"tenant-a-production","rateLimit":"1000/hour","expiresIn":"365d"}`
	if len(*seen) != 1 || (*seen)[0] != want {
		t.Errorf("requests %q, want %q", *seen, want)
	}

	// Flags with a space and the namespace aliases work too.
	if _, _, err := runCLI("apikey", "create", "--tenant", "tenant-a", "--rate-limit", "10/s"); err != nil {
		t.Errorf("--tenant: %v", err)
	}

	out, _, err = runCLI("apikey", "create", "--ns=tenant-a", "-o", "json")
	var got map[string]any
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got["key"] != "sk-tenant-a-0abcdefghijklmnopqrstuvwxyzABCDEF" {
		t.Errorf("-o json: %v %q", err, out)
	}
}

func TestAPIKeyCreateErrors(t *testing.T) {
	fakeDaemon(t, nil)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--rate-limit=lots", "--namespace=a"}, `--rate-limit: invalid rate "lots"`},
		{[]string{"--expires-in=soon", "--namespace=a"}, `--expires-in: invalid duration "soon"`},
		{[]string{}, "--namespace is required"},
		{[]string{"--namespace=Bad_Name"}, "invalid namespace name"},
		{[]string{"--namespace=nope"}, "namespace nope: namespace not found"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, _, err := runCLI(append([]string{"apikey", "create"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAPIKeyListAndRevoke(t *testing.T) {
	seen := fakeDaemon(t, map[string]string{
		"GET /api/v1/namespaces/tenant-a/apikeys": `[{"id":"key_0123456789","namespace":"tenant-a","name":"prod","prefix":"sk-tenant-a-0abcde",
			"rateLimit":"1000/hour","createdAt":"2026-05-01T00:00:00Z","status":"active"},
			{"id":"key_abcdefghij","namespace":"tenant-a","prefix":"sk-tenant-a-9zzzzz","createdAt":"2026-05-01T00:00:00Z",
			"revokedAt":"2026-05-02T00:00:00Z","status":"revoked"}]`,
		"DELETE /api/v1/apikeys/key_0123456789": `{"id":"key_0123456789","namespace":"tenant-a","prefix":"sk-tenant-a-0abcde","status":"revoked"}`,
	})

	out, _, err := runCLI("apikey", "list", "--namespace=tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ID NAME PREFIX RATE LIMIT CREATED EXPIRES LAST USED STATUS" {
		t.Fatalf("table:\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[0] != "key_0123456789" || f[3] != "1000/hour" || f[len(f)-1] != "active" {
		t.Errorf("row 1: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[3] != "unlimited" || f[len(f)-1] != "revoked" || f[len(f)-2] != "never" {
		t.Errorf("row 2: %q", lines[2])
	}

	out, _, err = runCLI("apikey", "list", "--namespace=tenant-a", "-o", "json")
	var list []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Errorf("-o json: %v %q", err, out)
	}

	_, errOut, err := runCLI("apikey", "revoke", "key_0123456789")
	if err != nil || !strings.Contains(errOut, "key_0123456789") || !strings.Contains(errOut, "revoked") {
		t.Errorf("revoke: %v %q", err, errOut)
	}
	if last := (*seen)[len(*seen)-1]; !strings.HasPrefix(last, "DELETE /api/v1/apikeys/key_0123456789") {
		t.Errorf("revoke sent %q", last)
	}
	if _, _, err := runCLI("apikey", "revoke"); err == nil || !strings.Contains(err.Error(), "needs KEY_ID") {
		t.Errorf("revoke without id: %v", err)
	}
}
