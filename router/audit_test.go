package router

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// auditLog is an AuthAuditor that keeps what it is told.
type auditLog struct {
	mu  sync.Mutex
	evs []AuthEvent
}

func (a *auditLog) AuditAuth(ev AuthEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.evs = append(a.evs, ev)
}

func (a *auditLog) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, ev := range a.evs {
		out = append(out, fmt.Sprintf("%s %s %s", ev.Namespace, ev.KeyID, ev.Outcome))
	}
	a.evs = nil
	return out
}

func TestAuthAudited(t *testing.T) {
	f := newAuthFixtureWith(t, map[string]string{})
	a := &auditLog{}
	f.r.AuditAuth(a)
	id := func(name string) string { return f.key[name].ID }
	for _, tc := range []struct {
		name    string
		host    string
		headers []string
		want    []string
	}{
		{"accepted", "a.example", []string{"X-API-Key", f.secret["a"]}, []string{"a " + id("a") + " accepted"}},
		{"accepted again within the minute", "a.example", []string{"X-API-Key", f.secret["a"]}, nil},
		{"unknown key", "a.example", []string{"X-API-Key", "sk-a-" + strings.Repeat("x", 33)}, []string{"a  refused"}},
		{"unknown key, no host", "10.0.0.1", []string{"X-API-Key", "hunter2"}, []string{"  refused"}},
		{"no key where one is required", "a.example", nil, []string{"a  refused"}},
		{"expired", "a.example", []string{"X-API-Key", f.secret["expired"]}, []string{"a " + id("expired") + " expired"}},
		{"revoked", "10.0.0.1", []string{"X-API-Key", f.secret["revoked"]}, []string{"a " + id("revoked") + " revoked"}},
		{"wrong namespace", "b.example", []string{"X-API-Key", f.secret["a"]}, []string{"a " + id("a") + " wrong_namespace", "b " + id("a") + " wrong_namespace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.do(tc.host, tc.headers...)
			if got := a.take(); !slices.Equal(got, tc.want) {
				t.Fatalf("audited %q, want %q", got, tc.want)
			}
		})
	}
	// A minute later the key in use is audited again.
	f.advance(acceptedEvery)
	f.do("a.example", "X-API-Key", f.secret["a"])
	if got := a.take(); len(got) != 1 {
		t.Fatalf("after a minute: %q", got)
	}

	// Logins.
	login := func(secret string) {
		req, _ := http.NewRequest("POST", f.url+loginPath, strings.NewReader(url.Values{"key": {secret}}.Encode()))
		req.Host = "a.example"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		record(t, req)
	}
	login(f.secret["a"])
	login("wrong")
	login(f.secret["b"])
	// The test client follows the login's redirect to / without a cookie
	// jar: that request has no key and is refused.
	if got, want := a.take(), []string{"a " + id("a") + " login", "a  refused", "a  login_failed", "a " + id("b") + " login_failed"}; !slices.Equal(got, want) {
		t.Fatalf("logins audited %q, want %q", got, want)
	}
}
