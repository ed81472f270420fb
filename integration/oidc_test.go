package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/clawd-dev/clawd/internal/testenv"
)

// oidcBrowser is a cookie-keeping client that reaches *.localhost at the
// daemon's router and follows redirects, as a browser would.
func oidcBrowser(d *daemon) *http.Client {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Jar: jar, Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if h, _, _ := net.SplitHostPort(addr); strings.HasSuffix(h, ".localhost") {
				addr = d.routerAddr
			}
			return dialer.DialContext(ctx, network, addr)
		}}}
}

func browse(t *testing.T, c *http.Client, url string, headers ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/html,application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOIDCLogin: the guide's `auth configure` on a real daemon, finished
// with an issuer (a real OpenID provider in this process); a browser
// signs in and reaches the stand-in gateway, which takes it for the
// user's email; a user of another domain is refused; outcomes are counted
// on /metrics; removing the login ends its sessions. Then the same in
// headless Chromium.
func TestOIDCLogin(t *testing.T) {
	needDocker(t)
	op, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Shutdown() })

	d := startSecureDaemon(t) // namespaces need a key (or now a session) by default
	d.mustClawd("namespace", "create", "sso")
	base := "http://sso.localhost:" + routerPort(d)
	callback := base + "/callback"

	// The guide's command as written: stored, not in effect yet.
	_, errOut, err := d.clawd("auth", "configure", "--namespace=sso", "--provider=oauth2", "--client-id="+op.ClientID,
		"--client-secret="+op.ClientSecret, "--callback-url="+callback)
	if err != nil {
		t.Fatalf("auth configure (the guide's): %v\n%s", err, errOut)
	}
	for _, want := range []string{"hostname sso.localhost added", "not in effect yet: set --issuer, or --auth-url, --token-url, --userinfo-url"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("auth configure said %q, want %q", errOut, want)
		}
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(d.mustClawd("auth", "show", "sso", "-o", "json")), &shown); err != nil || shown["active"] != false {
		t.Errorf("auth show: %v %v", shown, err)
	}
	if strings.Contains(d.mustClawd("auth", "show", "sso", "-o", "json"), op.ClientSecret) {
		t.Fatal("auth show prints the client secret")
	}
	if ns := d.get("sso"); !strings.Contains(strings.Join(ns.Spec.Hostnames, ","), "sso.localhost") {
		t.Errorf("namespace hostnames %v lack the callback's host", ns.Spec.Hostnames)
	}
	// Another namespace cannot take the host.
	d.mustClawd("namespace", "create", "other")
	if _, errOut, err := d.clawd("auth", "configure", "--namespace=other", "--provider=oidc", "--issuer="+op.Issuer(), "--client-id=x",
		"--client-secret=y", "--callback-url="+callback); err == nil || !strings.Contains(errOut, `"sso.localhost" is already used by namespace "sso"`) {
		t.Errorf("other namespace's login on sso's host: %v %s", err, errOut)
	}

	// Finished with the issuer; the secret stays as stored.
	d.mustClawd("auth", "configure", "--namespace=sso", "--provider=oidc", "--issuer="+op.Issuer(), "--client-id="+op.ClientID,
		"--callback-url="+callback, "--allowed-domains=example.com")
	d.waitPhase("sso", "Running", 90*time.Second)

	var cookieSession string
	eventually(t, 20*time.Second, "a browser signs in and reaches the gateway as its user", func() bool {
		c := oidcBrowser(d)
		code, body := browse(t, c, base+"/__standin/whoami", "X-Clawd-User", "forged")
		if code != 200 {
			t.Logf("whoami: %d %.200s", code, body)
			return false
		}
		var who struct{ User, Cookie string }
		if err := json.Unmarshal([]byte(body), &who); err != nil || who.User != "oidc:jane.doe@example.com" {
			t.Fatalf("the gateway took the browser for %q (%s), want oidc:jane.doe@example.com", who.User, body)
		}
		if strings.Contains(who.Cookie, "clawd_session") {
			t.Errorf("the session cookie reached the gateway: %q", who.Cookie)
		}
		for _, ck := range c.Jar.Cookies(mustURL(base)) {
			if ck.Name == "clawd_session" {
				cookieSession = ck.Name + "=" + ck.Value
			}
		}
		return true
	})
	if cookieSession == "" {
		t.Fatal("no session cookie in the browser")
	}
	if code, _, body := keyedGet(t, d, "sso.localhost", "/__standin/whoami", nil); code != 401 {
		t.Errorf("without a session: %d %s, want 401", code, body)
	}

	// A user outside the allowed domain is refused, nothing forwarded.
	op.QueueUser(&mockoidc.MockUser{Subject: "m", Email: "mallory@evil.test", EmailVerified: true})
	code, body := browse(t, oidcBrowser(d), base+"/__standin/whoami")
	if code != 403 || !strings.Contains(body, "mallory@evil.test may not sign in") || strings.Contains(body, `"user"`) {
		t.Errorf("mallory: %d %.300s, want 403 saying she may not sign in", code, body)
	}
	_, metrics := d.scrape(d.adminToken())
	for _, want := range []string{
		`clawd_login_total{namespace="sso",outcome="ok",provider="oidc"} 1`,
		`clawd_login_total{namespace="sso",outcome="denied",provider="oidc"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "clawd_login_total"))
		}
	}

	t.Run("headless Chromium signs in", func(t *testing.T) {
		if _, err := exec.LookPath("node"); err != nil {
			testenv.Missing(t, "no node for the Chromium check (scripts/ensure-tools.sh)")
		}
		cmd := exec.Command("node", "browser/visit.mjs", base+"/", base+"/__standin/whoami")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("visit.mjs: %v\n%s", err, out)
		}
		var visits []visit
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var v visit
			if json.Unmarshal(sc.Bytes(), &v) == nil {
				visits = append(visits, v)
			}
		}
		if len(visits) != 3 {
			t.Fatalf("visit.mjs printed %d lines, want 3:\n%s", len(visits), out)
		}
		if v := visits[0]; v.Status != 200 || v.FinalURL != base+"/" {
			t.Errorf("the Control UI after sign-in: %d at %s: %.200s", v.Status, v.FinalURL, v.Body)
		}
		if v := visits[1]; v.Status != 200 || !strings.Contains(v.Body, `"user":"oidc:jane.doe@example.com"`) {
			t.Errorf("whoami in Chromium: %d %.300s, want the user's email", v.Status, v.Body)
		}
		found := false
		for _, c := range visits[2].Cookies {
			if c.Name == "clawd_session" {
				found = c.HTTPOnly && c.SameSite == "Lax"
			}
		}
		if !found {
			t.Errorf("Chromium's cookies %+v: want an HttpOnly, SameSite=Lax clawd_session", visits[2].Cookies)
		}
		t.Logf("Chromium: %s", strings.TrimSpace(string(out)))
	})

	// Removing the login ends its sessions; the namespace still needs a key.
	d.mustClawd("auth", "remove", "sso")
	eventually(t, 10*time.Second, "the old session is refused", func() bool {
		code, _, _ := keyedGet(t, d, "sso.localhost", "/__standin/whoami", map[string]string{"Cookie": cookieSession})
		return code == 401
	})
}

// visit is one line of browser/visit.mjs.
type visit struct {
	Status   int    `json:"status"`
	FinalURL string `json:"finalUrl"`
	Body     string `json:"body"`
	Cookies  []struct {
		Name     string `json:"name"`
		SameSite string `json:"sameSite"`
		HTTPOnly bool   `json:"httpOnly"`
	} `json:"cookies"`
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
