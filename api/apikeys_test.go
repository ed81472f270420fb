package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/clawd-dev/clawd/apikey"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// fakeKeyStore embeds Store so only what the key endpoints call is written.
type fakeKeyStore struct {
	Store
	mu   sync.Mutex
	ns   map[string]namespace.Spec
	keys map[string]apikey.Key
}

func newFakeKeyStore(names ...string) *fakeKeyStore {
	f := &fakeKeyStore{ns: map[string]namespace.Spec{}, keys: map[string]apikey.Key{}}
	for _, n := range names {
		f.ns[n] = namespace.Spec{Name: n}
	}
	return f
}

func (f *fakeKeyStore) GetNamespace(_ context.Context, name string) (namespace.Namespace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sp, ok := f.ns[name]
	if !ok {
		return namespace.Namespace{}, fmt.Errorf("getting namespace %s: namespace %w", name, store.ErrNotFound)
	}
	return namespace.Namespace{Spec: sp}, nil
}

func (f *fakeKeyStore) CreateAPIKey(_ context.Context, k apikey.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[k.ID] = k
	return nil
}

func (f *fakeKeyStore) ListAPIKeys(_ context.Context, ns string) ([]apikey.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []apikey.Key
	for _, k := range f.keys {
		if k.Namespace == ns {
			out = append(out, k)
		}
	}
	return out, nil
}

func (f *fakeKeyStore) RevokeAPIKey(_ context.Context, id string) (apikey.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[id]
	if !ok {
		return k, fmt.Errorf("revoking API key %s: API key %w", id, store.ErrNotFound)
	}
	k.RevokedAt = k.CreatedAt
	f.keys[id] = k
	return k, nil
}

const testToken = "admin-secret"

func call(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestCreateAPIKey(t *testing.T) {
	fs := newFakeKeyStore("tenant-a")
	srv := New(Config{Token: testToken}, fs, nil)

	code, body := call(t, srv, "POST", "/api/v1/namespaces/tenant-a/apikeys",
		`{"name":"tenant-a-production","rateLimit":"1000/h","expiresIn":"365d"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var got CreatedAPIKey
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Key, "sk-tenant-a-") || got.RateLimit != "1000/hour" || got.Status != apikey.StateActive || got.ExpiresAt.IsZero() {
		t.Errorf("reply %+v", got)
	}
	stored := fs.keys[got.ID]
	if stored.Hash != apikey.Hash(got.Key) || strings.Contains(body, stored.Hash) {
		t.Errorf("stored hash %q does not match the key, or the reply shows it", stored.Hash)
	}

	tests := []struct {
		name, path, body string
		code             int
		detail           string
	}{
		{"bad rate", "/api/v1/namespaces/tenant-a/apikeys", `{"rateLimit":"lots"}`, 400, `--rate-limit: invalid rate "lots"`},
		{"zero rate", "/api/v1/namespaces/tenant-a/apikeys", `{"rateLimit":"0/hour"}`, 400, "--rate-limit"},
		{"bad duration", "/api/v1/namespaces/tenant-a/apikeys", `{"expiresIn":"a year"}`, 400, `--expires-in: invalid duration "a year"`},
		{"negative duration", "/api/v1/namespaces/tenant-a/apikeys", `{"expiresIn":"-1d"}`, 400, "--expires-in"},
		{"unknown field", "/api/v1/namespaces/tenant-a/apikeys", `{"secret":"x"}`, 400, "unknown field"},
		{"long name", "/api/v1/namespaces/tenant-a/apikeys", `{"name":"` + strings.Repeat("x", 201) + `"}`, 400, "--name is longer"},
		{"no namespace", "/api/v1/namespaces/nope/apikeys", `{}`, 404, "namespace not found"},
		{"bad namespace", "/api/v1/namespaces/No_Such/apikeys", `{}`, 400, "invalid namespace name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, srv, "POST", tc.path, tc.body)
			var p struct{ Detail string }
			_ = json.Unmarshal([]byte(body), &p)
			if code != tc.code || !strings.Contains(p.Detail, tc.detail) || strings.Contains(p.Detail, "\n") {
				t.Fatalf("got %d %q, want %d with one line containing %q", code, p.Detail, tc.code, tc.detail)
			}
		})
	}
}

func TestListAndRevokeAPIKeys(t *testing.T) {
	fs := newFakeKeyStore("a", "b")
	srv := New(Config{Token: testToken}, fs, nil)
	var secrets []string
	for _, ns := range []string{"a", "a", "b"} {
		_, body := call(t, srv, "POST", "/api/v1/namespaces/"+ns+"/apikeys", `{"name":"k"}`)
		var c CreatedAPIKey
		_ = json.Unmarshal([]byte(body), &c)
		secrets = append(secrets, c.Key)
	}

	code, body := call(t, srv, "GET", "/api/v1/namespaces/a/apikeys", "")
	var list []APIKey
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list) != 2 {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, s := range secrets {
		if strings.Contains(body, s) || strings.Contains(body, apikey.Hash(s)) {
			t.Fatal("list shows a secret or its hash")
		}
	}
	if strings.Contains(body, `"hash"`) || strings.Contains(body, `"key"`) {
		t.Errorf("list has hash or key fields: %s", body)
	}

	code, body = call(t, srv, "DELETE", "/api/v1/apikeys/"+list[0].ID, "")
	var revoked APIKey
	if code != 200 || json.Unmarshal([]byte(body), &revoked) != nil || revoked.Status != apikey.StateRevoked {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, body := call(t, srv, "DELETE", "/api/v1/apikeys/key_0000000000", ""); code != 404 || !strings.Contains(body, "does not exist") {
		t.Errorf("revoke missing: %d %s", code, body)
	}
	if code, body := call(t, srv, "DELETE", "/api/v1/apikeys/nonsense", ""); code != 400 || !strings.Contains(body, "invalid API key id") {
		t.Errorf("revoke bad id: %d %s", code, body)
	}
	if code, _ := call(t, srv, "GET", "/api/v1/namespaces/zzz/apikeys", ""); code != 404 {
		t.Errorf("list of a missing namespace: %d, want 404", code)
	}
}

func TestOpenAPIHasAPIKeyPaths(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for path, methods := range map[string][]string{
		"/api/v1/namespaces/{name}/apikeys": {"post", "get"},
		"/api/v1/apikeys/{id}":              {"delete"},
	} {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("openapi.json lacks %s %s", m, path)
			}
		}
	}
}
