package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/clawd-dev/clawd/audit"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/billing"
	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/resources"
	"github.com/clawd-dev/clawd/store"
)

// memStore is the state store in memory, with the real store's errors:
// ErrExists, *HostnameTakenError and ErrNotFound, wrapped as it wraps them.
type memStore struct {
	Store
	mu     sync.Mutex
	ns     map[string]namespace.Namespace
	owner  map[string]string // hostname -> namespace
	config map[string]string
}

var _ Store = (*memStore)(nil)

func newMemStore(specs ...namespace.Spec) *memStore {
	m := &memStore{ns: map[string]namespace.Namespace{}, owner: map[string]string{}, config: map[string]string{}}
	for _, sp := range specs {
		if err := m.CreateNamespace(context.Background(), sp); err != nil {
			panic(err)
		}
	}
	return m
}

func (m *memStore) ClusterID() string { return "cluster-test" }

func (m *memStore) CreateNamespace(_ context.Context, spec namespace.Spec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.ns[spec.Name]; ok {
		return fmt.Errorf("creating namespace %s: %w", spec.Name, store.ErrExists)
	}
	for _, h := range spec.Hostnames {
		if o, ok := m.owner[h]; ok {
			return fmt.Errorf("creating namespace %s: %w", spec.Name, &store.HostnameTakenError{Hostname: h, Owner: o})
		}
	}
	for _, h := range spec.Hostnames {
		m.owner[h] = spec.Name
	}
	m.ns[spec.Name] = namespace.Namespace{Spec: spec, Status: namespace.Status{Phase: namespace.PhasePending}}
	return nil
}

func (m *memStore) GetNamespace(_ context.Context, name string) (namespace.Namespace, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ns, ok := m.ns[name]
	if !ok {
		return ns, fmt.Errorf("getting namespace %s: namespace %w", name, store.ErrNotFound)
	}
	return ns, nil
}

func (m *memStore) ListNamespaces(context.Context) ([]namespace.Namespace, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []namespace.Namespace
	for _, ns := range m.ns {
		out = append(out, ns)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Name < out[j].Spec.Name })
	return out, nil
}

func (m *memStore) UpdateSpec(_ context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ns, ok := m.ns[name]
	if !ok {
		return namespace.Spec{}, fmt.Errorf("updating namespace %s: namespace %w", name, store.ErrNotFound)
	}
	sp := ns.Spec
	if err := fn(&sp); err != nil {
		return namespace.Spec{}, err
	}
	ns.Spec = sp
	m.ns[name] = ns
	return sp, nil
}

func (m *memStore) SetConfig(_ context.Context, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.config[key] = value
	return nil
}

func (m *memStore) GetConfig(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.config[key]
	if !ok {
		return "", fmt.Errorf("getting config %s: config key %w", key, store.ErrNotFound)
	}
	return v, nil
}

func (m *memStore) ListConfig(context.Context) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.config))
	for k, v := range m.config {
		out[k] = v
	}
	return out, nil
}

func (m *memStore) DeleteConfig(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.config[key]; !ok {
		return fmt.Errorf("deleting config %s: config key %w", key, store.ErrNotFound)
	}
	delete(m.config, key)
	return nil
}

func (m *memStore) ListNodes(context.Context) ([]store.Node, error) {
	return []store.Node{{Name: "node-1"}}, nil
}

const adminToken = "s3cret-admin-token"

// send makes one request; auth is the whole Authorization header, "" for none.
func send(t *testing.T, h http.Handler, auth, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func admin(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	return send(t, h, "Bearer "+adminToken, method, path, body)
}

// wantProblem checks an error reply: its code, the problem content type and
// that the detail mentions every one of want.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, code int, want ...string) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d; body %s", rec.Code, code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	if p.Status != code {
		t.Errorf("problem status %d, want %d", p.Status, code)
	}
	for _, w := range want {
		if !strings.Contains(p.Detail, w) {
			t.Errorf("detail %q does not mention %q", p.Detail, w)
		}
	}
}

func decodeInto(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("reply %q: %v", rec.Body, err)
	}
}

func TestAdminTokenRequired(t *testing.T) {
	tests := []struct {
		name  string
		token string // the server's
		auth  string // the request's header
		want  int
	}{
		{"no header", adminToken, "", http.StatusUnauthorized},
		{"wrong token", adminToken, "Bearer not-the-token", http.StatusUnauthorized},
		{"token prefix only", adminToken, "Bearer " + adminToken[:5], http.StatusUnauthorized},
		{"token without Bearer", adminToken, adminToken, http.StatusUnauthorized},
		{"basic scheme", adminToken, "Basic " + adminToken, http.StatusUnauthorized},
		{"empty server token refuses an empty bearer", "", "Bearer ", http.StatusUnauthorized},
		{"right token", adminToken, "Bearer " + adminToken, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := New(Config{Token: tc.token, Node: "node-1"}, newMemStore(), nil)
			for _, path := range []string{"/api/v1/status", "/api/v1/namespaces", "/api/v1/config"} {
				rec := send(t, srv, tc.auth, http.MethodGet, path, "")
				if rec.Code != tc.want {
					t.Errorf("GET %s: status %d, want %d", path, rec.Code, tc.want)
				}
				if tc.want == http.StatusUnauthorized {
					wantProblem(t, rec, http.StatusUnauthorized, "admin token")
					if rec.Header().Get("WWW-Authenticate") == "" {
						t.Errorf("GET %s: 401 without WWW-Authenticate", path)
					}
				}
			}
		})
	}
}

func TestCreateNamespace(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		code   int
		detail []string
		check  func(t *testing.T, ns namespace.Namespace)
	}{
		{name: "bad name", body: `{"name":"Bad_Name"}`, code: 400, detail: []string{"invalid namespace name"}},
		{name: "empty name", body: `{"name":""}`, code: 400, detail: []string{"invalid namespace name"}},
		{name: "negative cpu", body: `{"name":"tenant-b","cpu":"-1"}`, code: 400, detail: []string{"--quota-cpu", "negative"}},
		{name: "bad memory suffix", body: `{"name":"tenant-b","memory":"8Gx"}`, code: 400, detail: []string{"--quota-memory", "8Gx"}},
		{name: "memory below Docker's minimum", body: `{"name":"tenant-b","memory":"1Mi"}`, code: 400, detail: []string{"6Mi"}},
		{name: "hostname with port", body: `{"name":"tenant-b","hostnames":["b.example:80"]}`, code: 400, detail: []string{"invalid hostname"}},
		{name: "min instances 2", body: `{"name":"tenant-b","minInstances":2}`, code: 400, detail: []string{"min-instances"}},
		{name: "unknown field", body: `{"name":"tenant-b","quota":1}`, code: 400, detail: []string{"invalid JSON body"}},
		{name: "not JSON", body: `name=tenant-b`, code: 400, detail: []string{"invalid JSON body"}},
		{name: "display name too long", body: `{"name":"tenant-b","displayName":"` + strings.Repeat("x", 201) + `"}`, code: 400, detail: []string{"200"}},
		{name: "duplicate name", body: `{"name":"tenant-a"}`, code: 409, detail: []string{"already exists"}},
		{name: "hostname taken", body: `{"name":"tenant-b","hostnames":["A.Example"]}`, code: 409, detail: []string{`"a.example"`, `"tenant-a"`}},
		{
			name: "created",
			body: `{"name":"tenant-b","displayName":" Tenant B ","hostnames":["B.Example."],"cpu":"0.5","memory":"8Gi","skills":3,"warmupOnCreate":false}`,
			code: 201,
			check: func(t *testing.T, ns namespace.Namespace) {
				sp := ns.Spec
				if sp.Name != "tenant-b" || sp.DisplayName != "Tenant B" || sp.CPUMillis != 500 || sp.MemoryBytes != 8<<30 ||
					sp.MaxSkills != 3 || sp.Warmup || sp.Node != "node-1" || sp.CreatedAt.IsZero() {
					t.Errorf("spec %+v", sp)
				}
				if !slices.Equal(sp.Hostnames, []string{"b.example"}) {
					t.Errorf("hostnames %q, want normalised [b.example]", sp.Hostnames)
				}
			},
		},
		{
			name: "defaults",
			body: `{"name":"tenant-c"}`,
			code: 201,
			check: func(t *testing.T, ns namespace.Namespace) {
				if sp := ns.Spec; !sp.Warmup || sp.CPUMillis != 0 || sp.MemoryBytes != 0 {
					t.Errorf("spec %+v, want warmup on and no quotas", sp)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore(namespace.Spec{Name: "tenant-a", Hostnames: []string{"a.example"}})
			srv := New(Config{Token: adminToken, Node: "node-1"}, st, nil)
			rec := admin(t, srv, http.MethodPost, "/api/v1/namespaces", tc.body)
			if tc.code != http.StatusCreated {
				wantProblem(t, rec, tc.code, tc.detail...)
				if list, _ := st.ListNamespaces(context.Background()); len(list) != 1 {
					t.Errorf("a refused create left %d namespaces", len(list))
				}
				return
			}
			if rec.Code != http.StatusCreated {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var ns namespace.Namespace
			decodeInto(t, rec, &ns)
			tc.check(t, ns)
			if stored, err := st.GetNamespace(context.Background(), ns.Spec.Name); err != nil || !reflect.DeepEqual(stored.Spec.Hostnames, ns.Spec.Hostnames) {
				t.Errorf("stored %+v, %v; reply %+v", stored, err, ns)
			}
		})
	}
}

func TestGetAndListNamespaces(t *testing.T) {
	tests := []struct {
		name  string
		specs []namespace.Spec
		path  string
		code  int
		names []string
	}{
		{name: "empty list is [] not null", path: "/api/v1/namespaces", code: 200, names: []string{}},
		{name: "list", specs: []namespace.Spec{{Name: "tenant-b"}, {Name: "tenant-a"}}, path: "/api/v1/namespaces", code: 200, names: []string{"tenant-a", "tenant-b"}},
		{name: "get", specs: []namespace.Spec{{Name: "tenant-a"}}, path: "/api/v1/namespaces/tenant-a", code: 200, names: []string{"tenant-a"}},
		{name: "get missing", path: "/api/v1/namespaces/ghost", code: 404},
		{name: "get invalid name", path: "/api/v1/namespaces/Not_Valid", code: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := New(Config{Token: adminToken, Node: "node-1"}, newMemStore(tc.specs...), nil)
			rec := admin(t, srv, http.MethodGet, tc.path, "")
			if tc.code != 200 {
				wantProblem(t, rec, tc.code)
				return
			}
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var names []string
			if strings.HasSuffix(tc.path, "/namespaces") {
				if strings.TrimSpace(rec.Body.String()) == "null" {
					t.Fatal("list answered null")
				}
				var list []namespace.Namespace
				decodeInto(t, rec, &list)
				names = []string{}
				for _, ns := range list {
					names = append(names, ns.Spec.Name)
				}
			} else {
				var d NamespaceDetail
				decodeInto(t, rec, &d)
				names = []string{d.Spec.Name}
			}
			if !slices.Equal(names, tc.names) {
				t.Errorf("names %v, want %v", names, tc.names)
			}
		})
	}
}

func TestDeleteNamespace(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		code      int
		wantPurge bool
	}{
		{"keeps volumes", "/api/v1/namespaces/tenant-a", 202, false},
		{"purge", "/api/v1/namespaces/tenant-a?purge=true", 202, true},
		{"purge=1 is not purge", "/api/v1/namespaces/tenant-a?purge=1", 202, false},
		{"missing", "/api/v1/namespaces/ghost", 404, false},
		{"invalid name", "/api/v1/namespaces/Ghost", 400, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore(namespace.Spec{Name: "tenant-a"})
			srv := New(Config{Token: adminToken}, st, nil)
			rec := admin(t, srv, http.MethodDelete, tc.path, "")
			if tc.code != http.StatusAccepted {
				wantProblem(t, rec, tc.code)
				return
			}
			if rec.Code != tc.code {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var sp namespace.Spec
			decodeInto(t, rec, &sp)
			stored, _ := st.GetNamespace(context.Background(), "tenant-a")
			for _, got := range []namespace.Spec{sp, stored.Spec} {
				if !got.Deleting || got.Purge != tc.wantPurge {
					t.Errorf("spec deleting=%v purge=%v, want deleting and purge=%v", got.Deleting, got.Purge, tc.wantPurge)
				}
			}
		})
	}
}

// withRegistry fills what the key registry decides, Implemented and Note,
// which change as features land and are not what these tests are about.
func withRegistry(t *testing.T, e ConfigEntry) ConfigEntry {
	t.Helper()
	k, _, err := config.Lookup(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	e.Implemented, e.Note = k.Implemented, ""
	if !k.Implemented {
		e.Note = "stored; the feature that uses it is not implemented yet"
	}
	return e
}

func TestSetConfig(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		body   string
		code   int
		detail []string
		want   ConfigEntry
	}{
		{name: "unknown key", key: "namespaces.*.nope", body: `{"value":"x"}`, code: 400, detail: []string{"unknown config key"}},
		{name: "unknown global key", key: "metering.nope", body: `{"value":"x"}`, code: 400, detail: []string{"unknown config key"}},
		{name: "bad bool", key: "namespaces.*.warmupOnCreate", body: `{"value":"maybe"}`, code: 400},
		{name: "int out of range", key: "namespaces.*.minInstances", body: `{"value":"7"}`, code: 400},
		{name: "bad duration", key: "namespaces.*.idle.pauseAfter", body: `{"value":"soon"}`, code: 400},
		{name: "missing namespace", key: "namespaces.ghost.models.primary", body: `{"value":"gpt-4o"}`, code: 400, detail: []string{"ghost", "does not exist", "namespaces.*.models.primary"}},
		{name: "bad body", key: "namespaces.*.models.primary", body: `{"val":"gpt-4o"}`, code: 400, detail: []string{"invalid JSON body"}},
		{name: "every namespace", key: "namespaces.*.models.primary", body: `{"value":"gpt-4o"}`, code: 200,
			want: ConfigEntry{Key: "namespaces.*.models.primary", Value: "gpt-4o", Set: true, Source: "namespaces.*.models.primary"}},
		{name: "one namespace", key: "namespaces.tenant-a.minInstances", body: `{"value":"1"}`, code: 200,
			want: ConfigEntry{Key: "namespaces.tenant-a.minInstances", Value: "1", Set: true, Source: "namespaces.tenant-a.minInstances"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore(namespace.Spec{Name: "tenant-a"})
			srv := New(Config{Token: adminToken}, st, nil)
			rec := admin(t, srv, http.MethodPut, "/api/v1/config/"+tc.key, tc.body)
			if tc.code != 200 {
				wantProblem(t, rec, tc.code, tc.detail...)
				if vals, _ := st.ListConfig(context.Background()); len(vals) != 0 {
					t.Errorf("a refused set stored %v", vals)
				}
				return
			}
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var got ConfigEntry
			decodeInto(t, rec, &got)
			if want := withRegistry(t, tc.want); got != want {
				t.Errorf("entry %+v\nwant  %+v", got, want)
			}
			if v, err := st.GetConfig(context.Background(), tc.key); err != nil || v != tc.want.Value {
				t.Errorf("stored %q, %v; want %q", v, err, tc.want.Value)
			}
		})
	}
}

func TestGetConfig(t *testing.T) {
	st := newMemStore(namespace.Spec{Name: "tenant-a"}, namespace.Spec{Name: "tenant-b"})
	for k, v := range map[string]string{
		"namespaces.*.models.primary":        "gpt-4o",
		"namespaces.tenant-b.models.primary": "claude-3.5-sonnet",
		"namespaces.*.idle.pauseAfter":       "10m",
	} {
		_ = st.SetConfig(context.Background(), k, v)
	}
	srv := New(Config{Token: adminToken}, st, nil)
	tests := []struct {
		key  string
		code int
		want ConfigEntry
	}{
		{key: "namespaces.tenant-a.models.primary", code: 200,
			want: ConfigEntry{Key: "namespaces.tenant-a.models.primary", Value: "gpt-4o", Set: false, Source: "namespaces.*.models.primary"}},
		{key: "namespaces.tenant-b.models.primary", code: 200,
			want: ConfigEntry{Key: "namespaces.tenant-b.models.primary", Value: "claude-3.5-sonnet", Set: true, Source: "namespaces.tenant-b.models.primary"}},
		{key: "namespaces.*.models.primary", code: 200,
			want: ConfigEntry{Key: "namespaces.*.models.primary", Value: "gpt-4o", Set: true, Source: "namespaces.*.models.primary"}},
		{key: "namespaces.tenant-a.warmupOnCreate", code: 200,
			want: ConfigEntry{Key: "namespaces.tenant-a.warmupOnCreate", Value: "true", Source: "default"}},
		{key: "namespaces.tenant-a.idle.pauseAfter", code: 200,
			want: ConfigEntry{Key: "namespaces.tenant-a.idle.pauseAfter", Value: "10m", Source: "namespaces.*.idle.pauseAfter"}},
		{key: "namespaces.tenant-a.models.fallback", code: 404},
		{key: "namespaces.tenant-a.nope", code: 400},
		{key: "namespaces.Bad_NS.models.primary", code: 400},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			rec := admin(t, srv, http.MethodGet, "/api/v1/config/"+tc.key, "")
			if tc.code != 200 {
				wantProblem(t, rec, tc.code)
				return
			}
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var got ConfigEntry
			decodeInto(t, rec, &got)
			if want := withRegistry(t, tc.want); got != want {
				t.Errorf("entry %+v\nwant  %+v", got, want)
			}
		})
	}
}

// knownRoutes are patterns New registered when this test was written. The
// test reads the real list from the package's source (registeredRoutes);
// this one only proves that reading works.
var knownRoutes = []string{
	"GET /api/v1/openapi.json",
	"GET /api/v1/status",
	"GET /api/v1/namespaces",
	"POST /api/v1/namespaces",
	"GET /api/v1/namespaces/{name}",
	"DELETE /api/v1/namespaces/{name}",
	"POST /api/v1/namespaces/{name}/wake",
	"POST /api/v1/namespaces/{name}/apikeys",
	"GET /api/v1/namespaces/{name}/apikeys",
	"DELETE /api/v1/apikeys/{id}",
	"GET /api/v1/config",
	"GET /api/v1/config/{key}",
	"PUT /api/v1/config/{key}",
	"DELETE /api/v1/config/{key}",
}

// undocumentedRoutes are registered routes openapi.json is known to lack;
// each is reported as a skip until the document catches up.
var undocumentedRoutes = map[string]string{}

// registeredRoutes finds every "METHOD /path" pattern the package's
// non-test source passes to handle or HandleFunc: ServeMux cannot list its
// patterns, and a hand-kept list would miss the next route someone adds.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			pattern, err := strconv.Unquote(lit.Value)
			if err == nil && strings.Contains(pattern, " ") { // "/" is the catch-all 404
				out = append(out, pattern)
			}
			return true
		})
	}
	sort.Strings(out)
	return out
}

// concrete fills a pattern's wildcards with values its handler accepts.
func concrete(path string) string {
	return strings.NewReplacer("{name}", "tenant-a", "{id}", "key_0123456789", "{key}", "namespaces.*.models.primary").Replace(path)
}

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

func fetchOpenAPI(t *testing.T) (openAPIDoc, []byte) {
	t.Helper()
	srv := New(Config{Token: adminToken}, newMemStore(), nil)
	rec := send(t, srv, "", http.MethodGet, "/api/v1/openapi.json", "")
	if rec.Code != 200 {
		t.Fatalf("openapi.json without a token: status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	raw := rec.Body.Bytes()
	if !json.Valid(raw) {
		t.Fatal("openapi.json is not valid JSON")
	}
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, raw
}

func TestOpenAPIListsEveryRoute(t *testing.T) {
	doc, _ := fetchOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	registered := registeredRoutes(t)
	for _, r := range knownRoutes {
		if !slices.Contains(registered, r) {
			t.Errorf("route %q not found in the source; registered: %v", r, registered)
		}
	}

	srv := New(Config{Token: adminToken}, newMemStore(), nil)
	for _, r := range registered {
		t.Run(r, func(t *testing.T) {
			// The mux really serves it: auth answers before any handler,
			// where an unknown route would get 404 or 405.
			method, path, _ := strings.Cut(r, " ")
			want := http.StatusUnauthorized
			switch path {
			case "/api/v1/openapi.json":
				want = http.StatusOK
			case "/api/v1/console/session":
				// Public too: without the console's CSRF header it is
				// refused before any token is looked at.
				want = http.StatusForbidden
			case WebhookPath:
				// Public: Stripe's signature, not the admin token,
				// authenticates it; this server has no billing.
				want = http.StatusNotFound
			}
			if rec := send(t, srv, "", method, concrete(path), ""); rec.Code != want {
				t.Errorf("%s %s without a token: status %d, want %d", method, concrete(path), rec.Code, want)
			}
			if !documented[r] {
				if why, ok := undocumentedRoutes[r]; ok {
					t.Skip(why)
				}
				t.Errorf("openapi.json does not document %s", r)
			}
		})
	}
	for r := range documented {
		if !slices.Contains(registered, r) {
			t.Errorf("openapi.json documents %s, which the mux does not register", r)
		}
	}
	rec := send(t, srv, "Bearer "+adminToken, http.MethodGet, "/api/v1/nothing-here", "")
	wantProblem(t, rec, http.StatusNotFound, "openapi.json")
}

var componentName = regexp.MustCompile(`^[a-zA-Z0-9.\-_]+$`)

func TestOpenAPIReferencesResolve(t *testing.T) {
	doc, raw := fetchOpenAPI(t)
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	walk(tree)
	if len(refs) == 0 {
		t.Fatal("no $ref found")
	}
	for _, ref := range refs {
		parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		if len(parts) != 3 || parts[0] != "components" {
			t.Errorf("$ref %q is not a local component", ref)
			continue
		}
		if _, ok := doc.Components[parts[1]][parts[2]]; !ok {
			t.Errorf("$ref %q resolves to nothing", ref)
		}
	}
}

// OpenAPI 3.1 §4.8.7.1: component names MUST match ^[a-zA-Z0-9.\-_]+$.
func TestOpenAPIComponentNames(t *testing.T) {
	doc, _ := fetchOpenAPI(t)
	for kind, comps := range doc.Components {
		for name := range comps {
			if !componentName.MatchString(name) {
				t.Errorf("components.%s.%q is not a valid component name", kind, name)
			}
		}
	}
}

// undocumented are fields the types serialise that openapi.json is known
// to lack; each is reported as a skip until the document catches up.
var undocumented = map[string]string{}

// The schemas of Spec and Status list exactly the JSON fields the types have.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc, _ := fetchOpenAPI(t)
	for name, typ := range map[string]reflect.Type{
		"Spec":                    reflect.TypeFor[namespace.Spec](),
		"Status":                  reflect.TypeFor[namespace.Status](),
		"BillingPlan":             reflect.TypeFor[billing.Plan](),
		"BillingMeteredPrice":     reflect.TypeFor[billing.MeteredPrice](),
		"BillingCustomer":         reflect.TypeFor[billing.Customer](),
		"BillingInvoice":          reflect.TypeFor[billing.Invoice](),
		"BillingStatus":           reflect.TypeFor[billing.Status](),
		"BillingWebhookResult":    reflect.TypeFor[billing.WebhookResult](),
		"BillingPlanRequest":      reflect.TypeFor[billing.PlanRequest](),
		"BillingSubscribeRequest": reflect.TypeFor[billing.SubscribeRequest](),
		"BillingConfigureRequest": reflect.TypeFor[billing.ConfigureRequest](),
		"BillingConfigureReply":   reflect.TypeFor[billing.ConfigureReply](),
		"AuditRecord":             reflect.TypeFor[audit.Record](),
		"AuditHead":               reflect.TypeFor[store.AuditHead](),
		"AuditVerification":       reflect.TypeFor[audit.Verification](),
		"ResourcesReply":          reflect.TypeFor[ResourcesReply](),
		"ResourcePoint":           reflect.TypeFor[resources.Point](),
	} {
		t.Run(name, func(t *testing.T) {
			var schema struct {
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if err := json.Unmarshal(doc.Components["schemas"][name], &schema); err != nil {
				t.Fatal(err)
			}
			fields := map[string]bool{}
			for f := range typ.Fields() {
				if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" && tag != "-" {
					fields[tag] = true
				}
			}
			var known []string
			for f := range fields {
				if _, ok := schema.Properties[f]; ok {
					continue
				}
				if why, ok := undocumented[name+"."+f]; ok {
					known = append(known, why)
					continue
				}
				t.Errorf("schema %s lacks %q, which namespace.%s serialises", name, f, name)
			}
			for p := range schema.Properties {
				if !fields[p] {
					t.Errorf("schema %s documents %q, which namespace.%s does not have", name, p, name)
				}
			}
			if len(known) > 0 {
				sort.Strings(known)
				t.Skip(strings.Join(known, "; "))
			}
		})
	}
}

// namespaces.*.warmupOnCreate is the default of a create's warmupOnCreate.
func TestCreateWarmupDefaultsFromConfig(t *testing.T) {
	st := newMemStore()
	if err := st.SetConfig(context.Background(), "namespaces.*.warmupOnCreate", "false"); err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Token: adminToken, Node: "node-1"}, st, nil)
	for body, want := range map[string]bool{`{"name":"lazy"}`: false, `{"name":"eager","warmupOnCreate":true}`: true} {
		rec := admin(t, srv, http.MethodPost, "/api/v1/namespaces", body)
		var ns namespace.Namespace
		decodeInto(t, rec, &ns)
		if rec.Code != http.StatusCreated || ns.Spec.Warmup != want {
			t.Errorf("%s: %d, warmup %v; want %v", body, rec.Code, ns.Spec.Warmup, want)
		}
	}
}

// failingStore fails every namespace read with err.
type failingStore struct {
	*memStore
	err error
}

func (f failingStore) ListNamespaces(context.Context) ([]namespace.Namespace, error) {
	return nil, f.err
}

// A 5xx tells the caller only "internal error" and an id; the daemon's log
// has the same id next to the real cause.
func TestServerErrorsHideTheCause(t *testing.T) {
	const secret = "dial tcp 10.1.2.3:2379: etcd key /clawd/secret"
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		detail string
	}{
		{"internal", errors.New(secret), http.StatusInternalServerError, "internal error"},
		{"deadline", fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), http.StatusGatewayTimeout, "did not answer in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			log := hclog.New(&hclog.LoggerOptions{Output: &logBuf, JSONFormat: true})
			srv := New(Config{Token: adminToken, Logger: log}, failingStore{newMemStore(), tc.err}, nil)
			rec := admin(t, srv, "GET", "/api/v1/namespaces", "")
			wantProblem(t, rec, tc.code, tc.detail)
			if strings.Contains(rec.Body.String(), "10.1.2.3") || strings.Contains(rec.Body.String(), "etcd") {
				t.Errorf("reply leaks the cause: %s", rec.Body)
			}
			var p struct {
				Detail    string `json:"detail"`
				RequestID string `json:"requestId"`
			}
			decodeInto(t, rec, &p)
			if p.RequestID == "" || !strings.Contains(p.Detail, p.RequestID) || rec.Header().Get("X-Request-Id") != p.RequestID {
				t.Fatalf("request id %q: detail %q, X-Request-Id %q", p.RequestID, p.Detail, rec.Header().Get("X-Request-Id"))
			}
			var line struct {
				RequestID string `json:"request_id"`
				Error     string `json:"error"`
			}
			if err := json.Unmarshal(logBuf.Bytes(), &line); err != nil {
				t.Fatalf("log %q: %v", logBuf.String(), err)
			}
			if line.RequestID != p.RequestID || !strings.Contains(line.Error, secret) {
				t.Errorf("log line %s does not tie id %s to the cause", logBuf.String(), p.RequestID)
			}
		})
	}
}

// skills.path is set only under the skills roots, and never over clawd's
// own data dir; the daemon's policy decides, not just the syntax.
func TestSetConfigSkillsPath(t *testing.T) {
	root, data := t.TempDir(), t.TempDir()
	policy := config.SkillsPolicy{Roots: []string{root}, Protected: []string{data}}
	for _, tc := range []struct {
		name   string
		policy config.SkillsPolicy
		value  string
		detail string
	}{
		{name: "under a root", policy: policy, value: root + "/tenant-a"},
		{name: "outside the roots", policy: policy, value: "/srv/elsewhere", detail: "is not under the skills roots"},
		{name: "the data dir", policy: policy, value: data + "/etcd", detail: "overlaps clawd's own " + data},
		{name: "no roots configured", value: root + "/tenant-a", detail: "--skills.roots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore(namespace.Spec{Name: "tenant-a"})
			srv := New(Config{Token: adminToken, Skills: tc.policy}, st, nil)
			rec := admin(t, srv, http.MethodPut, "/api/v1/config/namespaces.tenant-a.skills.path", `{"value":"`+tc.value+`"}`)
			if tc.detail != "" {
				wantProblem(t, rec, 400, tc.detail)
				return
			}
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		})
	}
}
