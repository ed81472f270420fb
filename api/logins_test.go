package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/auth"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
)

// loginStore is a memStore that keeps logins and, as etcd does, refuses a
// hostname another namespace owns.
type loginStore struct {
	*memStore
	logins map[string]auth.Login
}

func (l *loginStore) UpdateSpec(ctx context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error) {
	return l.memStore.UpdateSpec(ctx, name, func(sp *namespace.Spec) error {
		if err := fn(sp); err != nil {
			return err
		}
		for _, h := range sp.Hostnames {
			for other, ns := range l.memStore.ns {
				if other != name && slices.Contains(ns.Spec.Hostnames, h) {
					return fmt.Errorf("updating namespace %s: %w", name, &store.HostnameTakenError{Hostname: h, Owner: other})
				}
			}
		}
		return nil
	})
}

func (l *loginStore) PutLogin(_ context.Context, lg auth.Login) error {
	l.logins[lg.Namespace] = lg
	return nil
}

func (l *loginStore) GetLogin(_ context.Context, ns string) (auth.Login, error) {
	lg, ok := l.logins[ns]
	if !ok {
		return auth.Login{}, fmt.Errorf("namespace %s has no login: %w", ns, store.ErrNotFound)
	}
	return lg, nil
}

func (l *loginStore) DeleteLogin(_ context.Context, ns string) error {
	if _, ok := l.logins[ns]; !ok {
		return fmt.Errorf("namespace %s has no login: %w", ns, store.ErrNotFound)
	}
	delete(l.logins, ns)
	return nil
}

func TestLogins(t *testing.T) {
	box, _ := secrets.New(bytes.Repeat([]byte{5}, secrets.KeySize))
	st := &loginStore{memStore: newMemStore(namespace.Spec{Name: "tenant-a"}, namespace.Spec{Name: "tenant-b", Hostnames: []string{"b.app.com"}}),
		logins: map[string]auth.Login{}}
	srv := New(Config{Token: adminToken, Secrets: box}, st, nil)
	const secret = "very-secret-client-secret"
	// The guide's command: no endpoints at all.
	guide := `{"provider":"oauth2","clientId":"cid","clientSecret":"` + secret + `","callbackUrl":"https://tenant-a.app.com/callback"}`

	for _, tc := range []struct {
		name, path, body string
		code             int
		detail           string
	}{
		{"unknown provider", "tenant-a", strings.Replace(guide, `"oauth2"`, `"saml"`, 1), 400, "--provider"},
		{"no client id", "tenant-a", strings.Replace(guide, `"cid"`, `""`, 1), 400, "--client-id"},
		{"relative callback", "tenant-a", strings.Replace(guide, "https://tenant-a.app.com/callback", "/callback", 1), 400, "--callback-url"},
		{"callback without a path", "tenant-a", strings.Replace(guide, "/callback", "", 1), 400, "path of its own"},
		{"plain-http issuer", "tenant-a", strings.Replace(guide, `"clientId"`, `"issuer":"http://idp.example.com","clientId"`, 1), 400, "use https"},
		{"no secret on first configure", "tenant-a", strings.Replace(guide, `"clientSecret":"`+secret+`",`, "", 1), 400, "--client-secret is required"},
		{"bad domain", "tenant-a", strings.Replace(guide, `"clientId"`, `"allowedDomains":["corp"],"clientId"`, 1), 400, "--allowed-domains"},
		{"no such namespace", "nope", guide, 404, "nope"},
		{"callback host of another namespace", "tenant-a", strings.Replace(guide, "tenant-a.app.com", "b.app.com", 1), 409, `"b.app.com" is already used by namespace "tenant-b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := admin(t, srv, "PUT", "/api/v1/namespaces/"+tc.path+"/auth", tc.body)
			wantProblem(t, rec, tc.code, tc.detail)
		})
	}
	if len(st.logins) != 0 {
		t.Fatalf("refused logins were stored: %v", st.logins)
	}
	if h := st.ns["tenant-a"].Spec.Hostnames; len(h) != 0 {
		t.Fatalf("a refused configure added hostnames %v", h)
	}

	rec := admin(t, srv, "PUT", "/api/v1/namespaces/tenant-a/auth", guide)
	var got Login
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
		t.Fatalf("the guide's configure: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), secret) || strings.Contains(rec.Body.String(), "sealed") {
		t.Errorf("the reply shows the secret: %s", rec.Body)
	}
	if got.Active || len(got.Missing) != 1 || !strings.Contains(got.Missing[0], "--issuer, or --auth-url, --token-url, --userinfo-url") {
		t.Errorf("guide's login: active %v missing %q, want inactive naming --issuer or the three URLs", got.Active, got.Missing)
	}
	if got.HostnameAdded != "tenant-a.app.com" || !slices.Contains(st.ns["tenant-a"].Spec.Hostnames, "tenant-a.app.com") {
		t.Errorf("callback host not made a hostname: added %q, spec %v", got.HostnameAdded, st.ns["tenant-a"].Spec.Hostnames)
	}
	stored := st.logins["tenant-a"]
	if strings.Contains(stored.SealedSecret, secret) {
		t.Fatal("the secret is stored in the clear")
	}
	if plain, err := box.Open(stored.SealedSecret, auth.SecretContext("tenant-a")); err != nil || string(plain) != secret {
		t.Fatalf("sealed secret opens to %q, %v", plain, err)
	}
	gen := stored.Generation

	// Finish it with an issuer; the secret is kept when not given again.
	finish := `{"provider":"oidc","clientId":"cid","issuer":"https://idp.example.com/","callbackUrl":"https://tenant-a.app.com/callback","allowedDomains":["@Corp.Example"]}`
	rec = admin(t, srv, "PUT", "/api/v1/namespaces/tenant-a/auth", finish)
	got = Login{}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
		t.Fatalf("reconfigure: %d %s", rec.Code, rec.Body)
	}
	if !got.Active || len(got.Missing) != 0 || got.HostnameAdded != "" || got.Issuer != "https://idp.example.com/" ||
		!slices.Equal(got.AllowedDomains, []string{"corp.example"}) || !slices.Equal(got.Scopes, auth.DefaultScopes) {
		t.Errorf("reconfigured login %+v", got)
	}
	if st.logins["tenant-a"].SealedSecret != stored.SealedSecret || st.logins["tenant-a"].Generation == gen {
		t.Error("reconfigure: secret not kept, or generation not changed (old sessions must end)")
	}

	rec = admin(t, srv, "GET", "/api/v1/namespaces/tenant-a/auth", "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), stored.SealedSecret) || !strings.Contains(rec.Body.String(), `"active": true`) {
		t.Errorf("show: %d %s", rec.Code, rec.Body)
	}
	// The namespace loses the callback's host: show says the login is off.
	if _, err := st.UpdateSpec(context.Background(), "tenant-a", func(sp *namespace.Spec) error { sp.Hostnames = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	rec = admin(t, srv, "GET", "/api/v1/namespaces/tenant-a/auth", "")
	if !strings.Contains(rec.Body.String(), `"active": false`) || !strings.Contains(rec.Body.String(), "the callback's host tenant-a.app.com as a hostname") {
		t.Errorf("show without the callback's hostname: %d %s", rec.Code, rec.Body)
	}
	if rec = admin(t, srv, "DELETE", "/api/v1/namespaces/tenant-a/auth", ""); rec.Code != 204 {
		t.Errorf("remove: %d %s", rec.Code, rec.Body)
	}
	wantProblem(t, admin(t, srv, "GET", "/api/v1/namespaces/tenant-a/auth", ""), 404, "no login")
	wantProblem(t, admin(t, srv, "DELETE", "/api/v1/namespaces/tenant-a/auth", ""), 404, "no login")
}
