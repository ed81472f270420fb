package auth

import (
	"slices"
	"strings"
	"testing"
)

func TestLoginValidateAndMissing(t *testing.T) {
	base := func() Login {
		return Login{Namespace: "a", Provider: "oauth2", ClientID: "c", CallbackURL: "https://a.example.com/callback"}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*Login)
		err     string
		missing []string
	}{
		{name: "the guide's command", missing: []string{"--issuer, or --auth-url, --token-url, --userinfo-url"}},
		{name: "oidc without issuer", edit: func(l *Login) { l.Provider = "OIDC" }, missing: []string{"--issuer"}},
		{name: "oauth2 with two urls", edit: func(l *Login) { l.AuthURL, l.TokenURL = "https://idp.example/a", "https://idp.example/t" },
			missing: []string{"--issuer, or --userinfo-url"}},
		{name: "oauth2 complete", edit: func(l *Login) {
			l.AuthURL, l.TokenURL, l.UserinfoURL = "https://idp.example/a", "https://idp.example/t", "https://idp.example/u"
		}},
		{name: "issuer", edit: func(l *Login) { l.Issuer = "https://idp.example/" }},
		{name: "loopback http issuer", edit: func(l *Login) { l.Issuer = "http://127.0.0.1:5556/dex" }},
		{name: "remote http issuer", edit: func(l *Login) { l.Issuer = "http://idp.example" }, err: "use https"},
		{name: "oidc with explicit urls", edit: func(l *Login) { l.Provider, l.AuthURL = "oidc", "https://idp.example/a" }, err: "--provider=oauth2"},
		{name: "unknown provider", edit: func(l *Login) { l.Provider = "saml" }, err: "--provider"},
		{name: "callback with query", edit: func(l *Login) { l.CallbackURL += "?x=1" }, err: "no query"},
		{name: "callback on /", edit: func(l *Login) { l.CallbackURL = "https://a.example.com/" }, err: "path of its own"},
		{name: "callback with userinfo", edit: func(l *Login) { l.CallbackURL = "https://u:p@a.example.com/cb" }, err: "--callback-url"},
		{name: "bad email", edit: func(l *Login) { l.AllowedEmails = []string{"nobody"} }, err: "--allowed-emails"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := base()
			if tc.edit != nil {
				tc.edit(&l)
			}
			l.Normalize()
			err := l.Validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Validate: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m := l.Missing(); !slices.Equal(m, tc.missing) {
				t.Errorf("Missing %q, want %q", m, tc.missing)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	l := Login{AllowedDomains: []string{"@Corp.example"}, AllowedEmails: []string{" Boss@Other.example "}}
	l.Normalize()
	for email, want := range map[string]bool{
		"jane@corp.example": true, "JANE@CORP.EXAMPLE": true, "boss@other.example": true,
		"jane@other.example": false, "jane@sub.corp.example": false, "jane@corp.example.evil": false, "": false, "corp.example": false,
	} {
		if got := l.Allowed(email); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", email, got, want)
		}
	}
	if open := (Login{}); !open.Allowed("") || !open.Allowed("anyone@anywhere.example") {
		t.Error("a login without lists lets everyone in")
	}
}

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{"/chat?x=1": "/chat?x=1", "": "/", "//evil.test": "/", "/\\evil.test": "/",
		"https://evil.test/": "/", "/__clawd/signin": "/", "/x\r\nSet-Cookie: a=b": "/", "/\t/evil.test": "/"} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}
