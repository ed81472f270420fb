package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// keyedGet GETs path through the router with the given Host ("" keeps the
// router's own address) and headers.
func keyedGet(t *testing.T, d *daemon, host, path string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.routerAddr+path, nil)
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s via router (Host %q): %v", path, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

var apiKeyRE = regexp.MustCompile(`^API Key: (sk-[a-z0-9-]+-[0-9a-zA-Z]{33})\n$`)

// createKey runs `clawd apikey create` and returns the secret and its id.
func createKey(t *testing.T, d *daemon, args ...string) (secret, id string) {
	t.Helper()
	out, errOut, err := d.clawd(append([]string{"apikey", "create"}, args...)...)
	if err != nil {
		t.Fatalf("apikey create %v: %v\n%s", args, err, errOut)
	}
	m := apiKeyRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("apikey create printed %q, want 'API Key: sk-…'", out)
	}
	if !strings.Contains(errOut, "shown only once") {
		t.Errorf("apikey create warned %q, want the shown-once warning", errOut)
	}
	ids := regexp.MustCompile(`key_[0-9a-zA-Z]{10}`).FindString(errOut)
	if ids == "" {
		t.Fatalf("apikey create did not name the key id on stderr: %q", errOut)
	}
	return m[1], ids
}

type keyView struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Prefix    string `json:"prefix"`
	RateLimit string `json:"rateLimit"`
	Status    string `json:"status"`
}

// standinOf reads which namespace answered /__standin.
func standinOf(t *testing.T, code int, body []byte) string {
	t.Helper()
	var info standinInfo
	if code != 200 || json.Unmarshal(body, &info) != nil {
		t.Fatalf("/__standin: %d %s", code, body)
	}
	return info.Namespace
}

func TestAPIKeys(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "alpha", "--hostname=alpha.localhost")
	d.mustClawd("namespace", "create", "beta", "--hostname=beta.localhost")

	// The guide's command, as written there.
	secret, id := createKey(t, d, "--namespace=alpha", `--name=alpha-production`, "--rate-limit=1000/hour", "--expires-in=365d")
	if !strings.HasPrefix(secret, "sk-alpha-") {
		t.Fatalf("secret %q is not sk-alpha-…", secret)
	}
	bearer := map[string]string{"Authorization": "Bearer " + secret}

	t.Run("routes by key", func(t *testing.T) {
		// No Host matches (the router's own address): the key picks alpha.
		code, h, body := keyedGet(t, d, "", "/__standin", bearer)
		if ns := standinOf(t, code, body); ns != "alpha" {
			t.Fatalf("answered by %s, want alpha", ns)
		}
		if h.Get("RateLimit-Limit") != "100" {
			t.Errorf("RateLimit-Limit %q, want 100 (a tenth of 1000/hour)", h.Get("RateLimit-Limit"))
		}
		code, _, body = keyedGet(t, d, "api.example.com", "/__standin", map[string]string{"X-API-Key": secret})
		if ns := standinOf(t, code, body); ns != "alpha" {
			t.Fatalf("X-API-Key: answered by %s, want alpha", ns)
		}
		code, _, body = keyedGet(t, d, "alpha.localhost", "/__standin", bearer)
		if ns := standinOf(t, code, body); ns != "alpha" {
			t.Fatalf("own hostname: answered by %s, want alpha", ns)
		}
	})

	t.Run("refuses", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			host    string
			headers map[string]string
			code    int
		}{
			{"other tenant's hostname", "beta.localhost", bearer, 403},
			{"garbage key", "", map[string]string{"Authorization": "Bearer sk-alpha-" + strings.Repeat("0", 33)}, 401},
			{"garbage X-API-Key", "alpha.localhost", map[string]string{"X-API-Key": "not-a-key"}, 401},
		} {
			code, h, body := keyedGet(t, d, tc.host, "/__standin", tc.headers)
			if code != tc.code || h.Get("Content-Type") != "application/problem+json" || strings.Contains(string(body), "bootCount") {
				t.Errorf("%s: %d %s, want %d problem", tc.name, code, body, tc.code)
			}
		}
	})

	t.Run("list shows no secret", func(t *testing.T) {
		out := d.mustClawd("apikey", "list", "--namespace=alpha", "-o", "json")
		var list []keyView
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
			t.Fatalf("apikey list -o json: %v %s", err, out)
		}
		k := list[0]
		if k.ID != id || k.Name != "alpha-production" || k.RateLimit != "1000/hour" || k.Status != "active" || !strings.HasPrefix(secret, k.Prefix) {
			t.Errorf("listed %+v", k)
		}
		random := strings.TrimPrefix(secret, "sk-alpha-")
		for _, args := range [][]string{
			{"apikey", "list", "--namespace=alpha", "-o", "json"},
			{"apikey", "list", "--namespace=alpha"},
			{"apikey", "list", "--namespace=alpha", "-o", "yaml"},
			{"namespace", "get", "alpha", "-o", "json"},
			{"namespace", "list", "-o", "json"},
		} {
			out := d.mustClawd(args...)
			if strings.Contains(out, random[8:]) || strings.Contains(out, `"hash"`) || strings.Contains(out, "hash:") {
				t.Errorf("clawd %v shows the secret or its hash:\n%s", args, out)
			}
		}
	})

	t.Run("revoke", func(t *testing.T) {
		victim, victimID := createKey(t, d, "--namespace=alpha", "--name=victim")
		hdr := map[string]string{"X-API-Key": victim}
		if code, _, body := keyedGet(t, d, "", "/__standin", hdr); standinOf(t, code, body) != "alpha" {
			t.Fatal("new key does not work")
		}
		d.mustClawd("apikey", "revoke", victimID)
		start := time.Now()
		eventually(t, 10*time.Second, "revoked key refused", func() bool {
			code, _, _ := keyedGet(t, d, "", "/__standin", hdr)
			return code == 401
		})
		t.Logf("revocation took effect after %s", time.Since(start).Round(time.Millisecond))
		if out := d.mustClawd("apikey", "list", "--namespace=alpha"); !strings.Contains(out, victimID) || !strings.Contains(out, "revoked") {
			t.Errorf("list after revoke:\n%s", out)
		}
		// The other key is untouched.
		if code, _, body := keyedGet(t, d, "", "/__standin", bearer); standinOf(t, code, body) != "alpha" {
			t.Fatal("revoking one key broke another")
		}
	})

	t.Run("expiry", func(t *testing.T) {
		// Long enough that the first request lands before expiry even on a
		// busy machine; a refused first request would be reported, not hidden.
		short, _ := createKey(t, d, "--namespace=alpha", "--expires-in=5s")
		hdr := map[string]string{"X-API-Key": short}
		code, _, body := keyedGet(t, d, "", "/__standin", hdr)
		if code != 200 {
			t.Fatalf("fresh 5s key: %d %s", code, body)
		}
		eventually(t, 30*time.Second, "expired key refused", func() bool {
			code, _, body := keyedGet(t, d, "", "/__standin", hdr)
			return code == 401 && strings.Contains(string(body), "expired")
		})
	})

	t.Run("rate limit", func(t *testing.T) {
		limited, _ := createKey(t, d, "--namespace=alpha", "--rate-limit=3/second")
		hdr := map[string]string{"Authorization": "Bearer " + limited}
		type result struct {
			code int
			h    http.Header
			body []byte
		}
		results := make([]result, 20)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, h, body := keyedGet(t, d, "", "/healthz", hdr)
				results[i] = result{code, h, body}
			}()
		}
		wg.Wait()
		var ok, limitedN int
		for _, r := range results {
			switch r.code {
			case 200:
				ok++
			case 429:
				limitedN++
				if ra := r.h.Get("Retry-After"); ra == "" || r.h.Get("RateLimit-Limit") != "3" || r.h.Get("RateLimit-Remaining") != "0" || r.h.Get("RateLimit-Reset") == "" {
					t.Errorf("429 headers: %v", r.h)
				}
				if !strings.Contains(string(r.body), "3/second") || !strings.Contains(string(r.body), `"keyId"`) {
					t.Errorf("429 body: %s", r.body)
				}
			default:
				t.Errorf("unexpected %d: %s", r.code, r.body)
			}
		}
		if ok == 0 || limitedN == 0 {
			t.Fatalf("burst of 20 at 3/second: %d ok, %d limited; want both", ok, limitedN)
		}
		time.Sleep(time.Second)
		eventually(t, 10*time.Second, "the key works again", func() bool {
			code, _, _ := keyedGet(t, d, "", "/healthz", hdr)
			return code == 200
		})
	})

	t.Run("namespace delete takes its keys", func(t *testing.T) {
		d.mustClawd("namespace", "delete", "alpha")
		// The CLI returns once the store has no alpha; the router learns it
		// from its watch a moment later.
		eventually(t, 10*time.Second, "key of a deleted namespace refused", func() bool {
			code, _, _ := keyedGet(t, d, "", "/__standin", bearer)
			return code == 401
		})
		if _, errOut, err := d.clawd("apikey", "list", "--namespace=alpha"); err == nil || !strings.Contains(errOut, "not found") {
			t.Errorf("apikey list of a deleted namespace: %v %s", err, errOut)
		}
	})
}

// By default a hostname is not a credential: a namespace answers only with
// one of its keys (or the login cookie), until the operator makes it
// public, and clawd status names the public ones.
func TestKeyNeededByDefault(t *testing.T) {
	d := startSecureDaemon(t)
	d.mustClawd("namespace", "create", "shut", "--hostname=shut.localhost")
	status := func() []string {
		var st struct {
			Public []string `json:"public"`
		}
		if err := json.Unmarshal([]byte(d.mustClawd("status", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		return st.Public
	}
	if code, _, body := keyedGet(t, d, "shut.localhost", "/healthz", nil); code != 401 {
		t.Fatalf("by hostname without a key: %d %s, want 401", code, body)
	}
	if p := status(); len(p) != 0 {
		t.Errorf("status lists public namespaces %v, want none", p)
	}
	secret, _ := createKey(t, d, "--namespace=shut")
	if code, _, body := keyedGet(t, d, "shut.localhost", "/healthz", map[string]string{"X-API-Key": secret}); code != 200 {
		t.Fatalf("with its key: %d %s", code, body)
	}
	d.mustClawd("config", "set", "namespaces.shut.auth.requireKey", "false")
	eventually(t, 10*time.Second, "the public namespace answers by hostname", func() bool {
		code, _, _ := keyedGet(t, d, "shut.localhost", "/healthz", nil)
		return code == 200
	})
	if p := status(); len(p) != 1 || p[0] != "shut" {
		t.Errorf("status lists public namespaces %v, want [shut]", p)
	}
	if out := d.mustClawd("status"); !strings.Contains(out, "Public:") || !strings.Contains(out, "shut") {
		t.Errorf("clawd status does not name the public namespace:\n%s", out)
	}
}

// namespaces.<ns>.auth.requireKey closes a namespace's hostname to anyone
// without one of its keys; a browser logs in once and keeps the key in a
// cookie. Set and unset while the daemon runs.
func TestRequireKeyThroughTheHostname(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "locked", "--hostname=locked.localhost")
	secret, _ := createKey(t, d, "--namespace=locked")
	if code, _, _ := keyedGet(t, d, "locked.localhost", "/healthz", nil); code != 200 {
		t.Fatalf("before requireKey: %d", code)
	}
	d.mustClawd("config", "set", "namespaces.locked.auth.requireKey", "true")
	eventually(t, 10*time.Second, "the hostname refuses requests without a key", func() bool {
		code, _, _ := keyedGet(t, d, "locked.localhost", "/healthz", nil)
		return code == 401
	})
	if code, _, body := keyedGet(t, d, "locked.localhost", "/healthz", map[string]string{"X-API-Key": secret}); code != 200 {
		t.Fatalf("with its key: %d %s", code, body)
	}

	cookie := login(t, d, "locked.localhost", secret)
	if code, _, body := keyedGet(t, d, "locked.localhost", "/healthz", map[string]string{"Cookie": cookie}); code != 200 {
		t.Fatalf("with the login cookie: %d %s", code, body)
	}

	d.mustClawd("config", "set", "namespaces.locked.auth.requireKey", "false")
	eventually(t, 10*time.Second, "the hostname is open again", func() bool {
		code, _, _ := keyedGet(t, d, "locked.localhost", "/healthz", nil)
		return code == 200
	})
}

// A key's last use survives a restart of clawd that follows it within
// the minute its writes are batched over.
func TestKeyLastUseIsKeptAcrossAStop(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "used", "--hostname=used.localhost")
	secret, id := createKey(t, d, "--namespace=used")
	if code, _, body := keyedGet(t, d, "", "/healthz", map[string]string{"X-API-Key": secret}); code != 200 {
		t.Fatalf("GET with the key: %d %s", code, body)
	}
	d.stop()
	d.start()
	var keys []struct {
		ID         string    `json:"id"`
		LastUsedAt time.Time `json:"lastUsedAt"`
	}
	if err := json.Unmarshal([]byte(d.mustClawd("apikey", "list", "--namespace=used", "-o", "json")), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != id || keys[0].LastUsedAt.IsZero() {
		t.Fatalf("keys after the restart: %+v, want %s with its last use", keys, id)
	}
}
