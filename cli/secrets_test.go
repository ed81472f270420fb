package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/secrets"
)

// fakeKeys is api.SecretKeys with fixed answers.
type fakeKeys struct {
	rep secrets.RotateReport
	err error
}

func (f fakeKeys) Rotate(context.Context) (secrets.RotateReport, error) { return f.rep, f.err }
func (f fakeKeys) Status(context.Context) (secrets.Status, error) {
	return secrets.Status{Source: "vault", Version: 3, Formats: map[string]int{"v1": 1, "v2/vault/v3": 2},
		Kinds: map[string]int{"provider keys": 3}, Stale: 1}, nil
}

func secretsDaemon(t *testing.T, k api.SecretKeys) {
	srv := httptest.NewServer(api.New(api.Config{Token: "t", SecretKeys: k}, auditStore{}, nil))
	t.Cleanup(srv.Close)
	t.Setenv("CLAWD_ADDR", srv.URL)
	t.Setenv("CLAWD_TOKEN", "t")
}

func TestSecretsCommands(t *testing.T) {
	secretsDaemon(t, fakeKeys{rep: secrets.RotateReport{Source: "vault", Version: 3,
		Counts: map[secrets.Change]int{secrets.Rewrapped: 2, secrets.Upgraded: 1}}})
	out, _, err := runCLI("secrets", "status")
	for _, want := range []string{"KEY SOURCE  vault", "KEY VERSION 3", "FORMAT v1   1", "FORMAT v2/vault/v3  2", "TO REWRAP   1"} {
		if err != nil || !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("status lacks %q: %v\n%s", want, err, out)
		}
	}
	out, _, err = runCLI("secrets", "status", "-o", "json")
	var st secrets.Status
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Formats["v2/vault/v3"] != 2 {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	out, _, err = runCLI("secrets", "rotate")
	if err != nil || out != "secrets rotated to vault key version 3: 2 rewrapped, 1 upgraded from v1, 0 resealed from another source, 0 already current\n" {
		t.Fatalf("rotate: %v\n%q", err, out)
	}
}

func TestSecretsRotateFailures(t *testing.T) {
	secretsDaemon(t, fakeKeys{rep: secrets.RotateReport{Source: "file", Version: 2, NewVersion: true,
		Counts: map[secrets.Change]int{secrets.Rewrapped: 1}, Failed: map[string]string{"providers/x#sealedKey": "secret does not decrypt"}}})
	out, errOut, err := runCLI("secrets", "rotate")
	if err == nil || !strings.Contains(out, "version 2 (new): 1 rewrapped") || !strings.Contains(errOut, "not rotated: providers/x#sealedKey: secret does not decrypt") {
		t.Fatalf("rotate with a failure: %v\n%s\n%s", err, out, errOut)
	}
	secretsDaemon(t, fakeKeys{err: &secrets.KeySourceError{Source: "vault", Err: errors.New("vault is unreachable at http://v:8200")}})
	if _, _, err := runCLI("secrets", "rotate"); err == nil || !strings.Contains(err.Error(), "vault is unreachable at http://v:8200") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("rotate with vault down: %v", err)
	}
}
