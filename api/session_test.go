package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/namespace"
)

// signIn posts token to the console's sign-in endpoint as the console page
// does and returns the reply.
func consoleSignIn(t *testing.T, h http.Handler, token string, headers map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:7070/api/v1/console/session", strings.NewReader(`{"token":"`+token+`"}`))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func sessionCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", SessionCookie, rec.Header()["Set-Cookie"])
	return nil
}

func TestConsoleSignIn(t *testing.T) {
	srv := New(Config{Token: adminToken}, newMemStore(), nil)
	console := map[string]string{ConsoleHeader: "1", "Origin": "http://127.0.0.1:7070"}

	t.Run("right token sets an HttpOnly SameSite=Strict cookie that is not the token", func(t *testing.T) {
		rec := consoleSignIn(t, srv, adminToken, console)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		c := sessionCookie(t, rec)
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
			t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/", c)
		}
		if c.Value == "" || strings.Contains(c.Value, adminToken) {
			t.Errorf("cookie value %q must be set and must not carry the token", c.Value)
		}
	})
	for _, tc := range []struct {
		name    string
		token   string
		headers map[string]string
		code    int
		detail  string
	}{
		{"wrong token", "not-the-token", console, http.StatusUnauthorized, "wrong admin token"},
		{"empty token", "", console, http.StatusUnauthorized, "wrong admin token"},
		{"no console header", adminToken, map[string]string{"Origin": "http://127.0.0.1:7070"}, http.StatusForbidden, ConsoleHeader},
		{"other origin", adminToken, map[string]string{ConsoleHeader: "1", "Origin": "http://evil.example"}, http.StatusForbidden, ConsoleHeader},
	} {
		t.Run(tc.name+" is refused without a cookie", func(t *testing.T) {
			rec := consoleSignIn(t, srv, tc.token, tc.headers)
			wantProblem(t, rec, tc.code, tc.detail)
			if len(rec.Result().Cookies()) != 0 {
				t.Errorf("cookies set: %v", rec.Header()["Set-Cookie"])
			}
		})
	}
	t.Run("a server without a token refuses an empty one", func(t *testing.T) {
		rec := consoleSignIn(t, New(Config{}, newMemStore(), nil), "", console)
		wantProblem(t, rec, http.StatusUnauthorized, "wrong admin token")
	})
}

func TestConsoleCookieAuth(t *testing.T) {
	srv := New(Config{Token: adminToken}, newMemStore(namespace.Spec{Name: "tenant-a"}), nil)
	cookie := sessionCookie(t, consoleSignIn(t, srv, adminToken, map[string]string{ConsoleHeader: "1"}))
	stale := &http.Cookie{Name: SessionCookie, Value: New(Config{Token: "an-older-token"}, newMemStore(), nil).session()}

	for _, tc := range []struct {
		name    string
		method  string
		path    string
		cookie  *http.Cookie
		headers map[string]string
		want    int
	}{
		{"read with the cookie", http.MethodGet, "/api/v1/namespaces", cookie, nil, http.StatusOK},
		{"export with the cookie (the CSV link)", http.MethodGet, "/api/v1/metering/export?start=2026-05-01&end=2026-05-31", cookie, nil, http.StatusConflict},
		{"write with the cookie and the header", http.MethodPost, "/api/v1/namespaces/tenant-a/wake", cookie, map[string]string{ConsoleHeader: "1", "Origin": "http://127.0.0.1:7070"}, http.StatusAccepted},
		{"write with the cookie, header, no Origin", http.MethodPost, "/api/v1/namespaces/tenant-a/wake", cookie, map[string]string{ConsoleHeader: "1"}, http.StatusAccepted},
		{"write with the cookie but no header (CSRF)", http.MethodPost, "/api/v1/namespaces/tenant-a/wake", cookie, nil, http.StatusUnauthorized},
		{"write with the cookie but a wrong header value", http.MethodDelete, "/api/v1/namespaces/tenant-a", cookie, map[string]string{ConsoleHeader: "yes"}, http.StatusUnauthorized},
		{"write with the cookie from another origin", http.MethodPost, "/api/v1/namespaces/tenant-a/sleep", cookie, map[string]string{ConsoleHeader: "1", "Origin": "http://evil.example"}, http.StatusUnauthorized},
		{"a cookie of another token", http.MethodGet, "/api/v1/namespaces", stale, nil, http.StatusUnauthorized},
		{"a forged cookie", http.MethodGet, "/api/v1/namespaces", &http.Cookie{Name: SessionCookie, Value: adminToken}, nil, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://127.0.0.1:7070"+tc.path, nil)
			req.AddCookie(tc.cookie)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
		})
	}

	t.Run("a wrong bearer token is not rescued by a good cookie", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces", nil)
		req.AddCookie(cookie)
		req.Header.Set("Authorization", "Bearer not-the-token")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		wantProblem(t, rec, http.StatusUnauthorized, "admin token")
	})
	t.Run("sign-out clears the cookie", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodDelete, "/api/v1/console/session", nil)
		req.Header.Set(ConsoleHeader, "1")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("status %d", rec.Code)
		}
		if c := sessionCookie(t, rec); c.MaxAge >= 0 || c.Value != "" {
			t.Errorf("sign-out cookie %+v does not expire the session", c)
		}
	})
}

func TestConsoleMounted(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("console " + r.URL.Path)) })
	srv := New(Config{Token: adminToken, Console: page}, newMemStore(), nil)
	rec := send(t, srv, "", http.MethodGet, "/console/namespaces", "")
	if rec.Code != http.StatusOK || rec.Body.String() != "console /console/namespaces" {
		t.Errorf("GET /console/namespaces without a token: %d %q", rec.Code, rec.Body)
	}
	rec = send(t, srv, "", http.MethodGet, "/console", "")
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/console/" {
		t.Errorf("GET /console: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	rec = send(t, New(Config{Token: adminToken}, newMemStore(), nil), "", http.MethodGet, "/console/", "")
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /console/ on a server without a console: %d", rec.Code)
	}
}
