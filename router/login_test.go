package router

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// With the dynamic config and nothing set, every namespace needs a key:
// a hostname is not a credential (ACME puts every name in public logs).
func TestKeyRequiredByDefault(t *testing.T) {
	f := newAuthFixtureWith(t, map[string]string{})
	for _, host := range []string{"a.example", "b.example"} {
		if rec := f.do(host); rec.Code != 401 {
			t.Errorf("no key on %s's host by default: %d %s, want 401", host, rec.Code, rec.Body)
		}
	}
	if rec := f.do("a.example", "X-API-Key", f.secret["a"]); rec.Code != 200 {
		t.Errorf("a's key on a's host: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("b.example", "X-API-Key", f.secret["a"]); rec.Code != 403 {
		t.Errorf("a's key on b's host: %d %s, want 403", rec.Code, rec.Body)
	}
}

// A namespace with auth.requireKey answers nothing without one of its
// keys, even on its own hostname; a browser is sent to the login page,
// which keeps a key of that namespace (and only of it) in a cookie the
// gateway never sees. Other namespaces are unaffected.
func TestRequireKeyAndLogin(t *testing.T) {
	f := newAuthFixtureWith(t, map[string]string{"namespaces.*.auth.requireKey": "false", "namespaces.a.auth.requireKey": "true"})

	if rec := f.do("a.example"); rec.Code != 401 || !strings.Contains(rec.Body.String(), "requires an API key") {
		t.Fatalf("no key on a's host: %d %s, want 401", rec.Code, rec.Body)
	}
	if rec := f.do("a.example", "X-API-Key", f.secret["a"]); rec.Code != 200 {
		t.Fatalf("a's key on a's host: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("b.example"); rec.Code != 200 {
		t.Fatalf("no key on b's host (b does not require one): %d %s", rec.Code, rec.Body)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, f.url+path, strings.NewReader(body))
		req.Host = "a.example"
		req.Header.Set("Accept", "text/html")
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// The jar files cookies by the URL's host, the router's address.
	routerURL, _ := url.Parse(f.url)

	if resp := send("GET", "/", ""); resp.StatusCode != 303 || resp.Header.Get("Location") != loginPath {
		t.Fatalf("a browser without a key: %d to %q, want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := send("GET", loginPath, ""); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("login page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for name, want := range map[string]int{"b": 403, "revoked": 401, "expired": 401} {
		if resp := send("POST", loginPath, "key="+url.QueryEscape(f.secret[name])); resp.StatusCode != want || len(jar.Cookies(routerURL)) != 0 {
			t.Errorf("login with key %s: %d, cookies %v; want %d and none", name, resp.StatusCode, jar.Cookies(routerURL), want)
		}
	}
	resp := send("POST", loginPath, "key="+url.QueryEscape(f.secret["a"]))
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
		t.Fatalf("login with a's key: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(strings.ToLower(sc), "samesite=strict") {
		t.Errorf("cookie %q, want HttpOnly and SameSite=Strict", sc)
	}

	req, _ := http.NewRequest("GET", f.url+"/v1/models", nil)
	req.Host = "a.example"
	req.Header.Set("Cookie", "theme=dark; "+keyCookie+"="+f.secret["a"])
	got, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	var e echo
	_ = json.NewDecoder(got.Body).Decode(&e)
	if got.StatusCode != 200 || e.Namespace != "a" || len(e.User) != 1 || e.User[0] != f.key["a"].ID {
		t.Fatalf("with the login cookie: %d %+v, want a's gateway as key %s", got.StatusCode, e, f.key["a"].ID)
	}
	if c := strings.Join(e.Cookie, "; "); strings.Contains(c, keyCookie) || !strings.Contains(c, "theme=dark") {
		t.Errorf("the gateway got cookies %q: want the key's removed and the others kept", c)
	}

	if resp := send("GET", logoutPath, ""); resp.StatusCode != 303 || !strings.Contains(resp.Header.Get("Set-Cookie"), keyCookie+"=;") {
		t.Errorf("logout: %d, Set-Cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	if resp := send("GET", "/__clawd/other", ""); resp.StatusCode != 404 {
		t.Errorf("another router path: %d, want 404", resp.StatusCode)
	}
}
