package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/clawd-dev/clawd/provider"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
)

// fakeProviderStore embeds Store so only what the provider endpoints call
// is written.
type fakeProviderStore struct {
	Store
	mu        sync.Mutex
	providers map[string]provider.Provider
	config    map[string]string
}

func (f *fakeProviderStore) CreateProvider(_ context.Context, p provider.Provider) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.providers[p.Name]; ok {
		return fmt.Errorf("provider %s %w", p.Name, store.ErrExists)
	}
	f.providers[p.Name] = p
	return nil
}

func (f *fakeProviderStore) ListProviders(context.Context) ([]provider.Provider, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []provider.Provider
	for _, p := range f.providers {
		out = append(out, p)
	}
	return out, nil
}

func (f *fakeProviderStore) DeleteProvider(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.providers, name)
	return nil
}

func (f *fakeProviderStore) ListConfig(context.Context) (map[string]string, error) {
	return f.config, nil
}

func TestProviders(t *testing.T) {
	box, _ := secrets.New(bytes.Repeat([]byte{3}, secrets.KeySize))
	st := &fakeProviderStore{providers: map[string]provider.Provider{}, config: map[string]string{}}
	srv := New(Config{Token: adminToken, Secrets: box}, st, nil)
	const key = "sk-very-secret-1234"
	add := `{"name":"openai","api":"openai-completions","baseUrl":"https://api.openai.com/v1/","apiKey":"` + key + `","models":["gpt-4o","gpt-4o-mini"]}`

	for _, tc := range []struct{ name, body, detail string }{
		{"unknown api", strings.Replace(add, "openai-completions", "openai-chat", 1), "unknown --api"},
		{"not http", strings.Replace(add, "https://api.openai.com/v1/", "file:///etc/passwd", 1), "invalid --base-url"},
		{"empty key", strings.Replace(add, key, " ", 1), "empty --api-key"},
		{"no models", strings.Replace(add, `["gpt-4o","gpt-4o-mini"]`, `[]`, 1), "no --models"},
		{"unknown field", strings.Replace(add, `"name"`, `"key":"x","name"`, 1), "invalid JSON body"},
	} {
		rec := admin(t, srv, "POST", "/api/v1/providers", tc.body)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), tc.detail) {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
	if len(st.providers) != 0 {
		t.Fatalf("refused providers were stored: %v", st.providers)
	}

	rec := admin(t, srv, "POST", "/api/v1/providers", add)
	if rec.Code != 201 || strings.Contains(rec.Body.String(), key) {
		t.Fatalf("add: %d %s", rec.Code, rec.Body)
	}
	p := st.providers["openai"]
	if strings.Contains(p.SealedKey, key) || p.BaseURL != "https://api.openai.com/v1" {
		t.Fatalf("stored provider %+v: want a sealed key and the URL without its trailing slash", p)
	}
	if plain, err := box.Open(p.SealedKey, provider.KeyContext("openai")); err != nil || string(plain) != key {
		t.Fatalf("sealed key does not open to the key: %v", err)
	}
	if rec := admin(t, srv, "POST", "/api/v1/providers", add); rec.Code != 409 {
		t.Errorf("duplicate: %d %s", rec.Code, rec.Body)
	}
	rec = admin(t, srv, "GET", "/api/v1/providers", "")
	var list []Provider
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list) != 1 || strings.Contains(rec.Body.String(), "sealed") {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}

	st.config["namespaces.acme.models.primary"] = "gpt-4o"
	st.config["namespaces.*.models.fallback"] = "openai/gpt-4o-mini"
	rec = admin(t, srv, "DELETE", "/api/v1/providers/openai", "")
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "namespace acme") || !strings.Contains(rec.Body.String(), "every namespace") {
		t.Errorf("removing a used provider: %d %s", rec.Code, rec.Body)
	}
	clear(st.config)
	if rec := admin(t, srv, "DELETE", "/api/v1/providers/openai", ""); rec.Code != 204 {
		t.Errorf("remove: %d %s", rec.Code, rec.Body)
	}
	if rec := admin(t, srv, "DELETE", "/api/v1/providers/openai", ""); rec.Code != 404 {
		t.Errorf("remove again: %d %s", rec.Code, rec.Body)
	}
}
