package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Result()
}

func TestHandlerServesEmbeddedFiles(t *testing.T) {
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/console/", "text/html", `src="/console/app.js"`},
		{"/console/app.js", "javascript", "X-Clawd-Console"},
		{"/console/app.css", "text/css", ".uplot"},
		// The app's own routes and unknown paths get the page, so a
		// reload lands where it was.
		{"/console/namespaces/acme", "text/html", `<main id="main"`},
		{"/console/nope.js", "text/html", `<main id="main"`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res := get(t, tc.path)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); !strings.Contains(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tc.contentType)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			csp := res.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if res.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("X-Frame-Options %q", res.Header.Get("X-Frame-Options"))
			}
		})
	}
}

// The page loads nothing from another origin: no URL with a scheme or a
// protocol-relative one in anything it is built from.
func TestNoRequestOffOrigin(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`)
	err := fs.WalkDir(Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Files(), path)
		if err != nil {
			return err
		}
		if m := remote.Find(b); m != nil {
			t.Errorf("%s refers to %s", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		if _, err := fs.Stat(Files(), name); err != nil {
			t.Errorf("dist/%s is not embedded: %v", name, err)
		}
	}
}

// The committed dist is what web/ builds. Needs node and web/node_modules
// (make console runs npm ci); skipped without them.
func TestDistMatchesSources(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the console with esbuild")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat("web/node_modules/esbuild"); err != nil {
		t.Skip("web/node_modules is not installed (make console)")
	}
	tmp := t.TempDir()
	cmd := exec.Command("node", "build.mjs", tmp)
	cmd.Dir = "web"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node build.mjs: %v\n%s", err, out)
	}
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		built, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := fs.ReadFile(Files(), name)
		if err != nil {
			t.Fatal(err)
		}
		if string(built) != string(committed) {
			t.Errorf("dist/%s differs from what web/ builds: run make console and commit console/dist", name)
		}
	}
}
