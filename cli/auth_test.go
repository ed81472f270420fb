package cli

import (
	"strings"
	"testing"
)

const loginReply = `{"namespace":"tenant-a","provider":"oauth2","clientId":"cid","callbackUrl":"https://tenant-a.app.com/callback",
"missing":["--issuer, or --auth-url, --token-url, --userinfo-url"],"active":false,"hostnameAdded":"tenant-a.app.com","updatedAt":"2026-05-01T00:00:00Z"}`

// The guide's command, as written, stores the login and says what it
// still needs; show says it again; remove removes.
func TestAuthGuideCommand(t *testing.T) {
	seen := fakeDaemon(t, map[string]string{
		"PUT /api/v1/namespaces/tenant-a/auth":    loginReply,
		"GET /api/v1/namespaces/tenant-a/auth":    loginReply,
		"DELETE /api/v1/namespaces/tenant-a/auth": "",
	})
	_, errOut, err := runCLI("auth", "configure", "--namespace=tenant-a", "--provider=oauth2", "--client-id=cid", "--client-secret=s3cret",
		"--callback-url=https://tenant-a.app.com/callback")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hostname tenant-a.app.com added", "not in effect yet: set --issuer, or --auth-url, --token-url, --userinfo-url"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("configure's stderr %q lacks %q", errOut, want)
		}
	}
	want := `PUT /api/v1/namespaces/tenant-a/auth {"provider":"oauth2","clientId":"cid","clientSecret":"s3cret","callbackUrl":"https://tenant-a.app.com/callback"}`
	if len(*seen) != 1 || (*seen)[0] != want {
		t.Errorf("requests %q\nwant %q", *seen, want)
	}
	out, _, err := runCLI("auth", "show", "tenant-a")
	if err != nil || !strings.Contains(out, "not in effect: needs --issuer") || strings.Contains(out, "s3cret") {
		t.Errorf("show: %v %q", err, out)
	}
	if _, errOut, err = runCLI("auth", "remove", "--tenant", "tenant-a"); err != nil || !strings.Contains(errOut, "removed") {
		t.Errorf("remove: %v %q", err, errOut)
	}

	// Typos fail before the round trip.
	*seen = nil
	for _, args := range [][]string{
		{"auth", "configure", "--namespace=tenant-a", "--provider=saml", "--client-id=c", "--callback-url=https://a.example/cb"},
		{"auth", "configure", "--namespace=tenant-a", "--provider=oidc", "--client-id=c", "--callback-url=a.example/cb"},
		{"auth", "configure", "--provider=oidc", "--client-id=c", "--callback-url=https://a.example/cb"},
	} {
		if _, _, err := runCLI(args...); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if len(*seen) != 0 {
		t.Errorf("refused commands reached the daemon: %q", *seen)
	}
}
