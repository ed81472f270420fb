package provider

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := func() (string, string, string, string, []string) {
		return "openai", "openai-completions", "https://api.openai.com/v1", "sk-1", []string{"gpt-4o"}
	}
	if err := Validate(ok()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(n, a, u, k *string, m *[]string)
		want string
	}{
		{"unknown api", func(_, a, _, _ *string, _ *[]string) { *a = "openai" }, "unknown --api"},
		{"ftp url", func(_, _, u, _ *string, _ *[]string) { *u = "ftp://x/v1" }, "invalid --base-url"},
		{"no host", func(_, _, u, _ *string, _ *[]string) { *u = "https://" }, "invalid --base-url"},
		{"credentials in url", func(_, _, u, _ *string, _ *[]string) { *u = "https://u:p@x/v1" }, "invalid --base-url"},
		{"empty key", func(_, _, _, k *string, _ *[]string) { *k = "  " }, "empty --api-key"},
		{"no models", func(_, _, _, _ *string, m *[]string) { *m = nil }, "no --models"},
		{"bad model", func(_, _, _, _ *string, m *[]string) { *m = []string{"a b"} }, "invalid model"},
		{"twice", func(_, _, _, _ *string, m *[]string) { *m = []string{"a", "a"} }, "twice"},
		{"bad name", func(n, _, _, _ *string, _ *[]string) { *n = "Open_AI" }, "invalid provider name"},
	} {
		n, a, u, k, m := ok()
		tc.edit(&n, &a, &u, &k, &m)
		if err := Validate(n, a, u, k, m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	ps := []Provider{
		{Name: "openai", Models: []string{"gpt-4o", "shared"}},
		{Name: "azure", Models: []string{"shared"}},
	}
	for _, tc := range []struct{ ref, want, err string }{
		{"gpt-4o", "openai/gpt-4o", ""},
		{"azure/shared", "azure/shared", ""},
		{"shared", "", "several providers"},
		{"gpt-5", "", "azure/shared, openai/gpt-4o, openai/shared"},
		{"anthropic/gpt-4o", "", "not offered"},
	} {
		got, err := Resolve(tc.ref, ps)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %q", tc.ref, got, err, tc.want, tc.err)
		}
	}
	if _, err := Resolve("gpt-4o", nil); err == nil || !strings.Contains(err.Error(), "clawd provider add") {
		t.Errorf("no providers: %v", err)
	}
}
