package openclawcfg

import (
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestRender(t *testing.T) {
	opts := Options{Port: 18789, Proxy: netip.MustParseAddr("10.213.4.17"), SubnetPool: netip.MustParsePrefix("10.213.0.0/16"), HTTPPort: 80, HTTPSPort: 443, SkillsDir: "/home/node/skills"}
	tests := []struct {
		name   string
		spec   namespace.Spec
		values map[string]string
		opts   func(o *Options)
	}{
		{name: "bare", spec: namespace.Spec{Name: "alpha"}},
		{name: "hostnames-default-ports", spec: namespace.Spec{Name: "alpha", Hostnames: []string{"alpha.example.com", "chat.alpha.example"}}},
		{name: "hostnames-other-ports", spec: namespace.Spec{Name: "alpha", Hostnames: []string{"alpha.example.com"}},
			opts: func(o *Options) { o.HTTPPort, o.HTTPSPort = 8080, 8443 }},
		{name: "no-tls-listener", spec: namespace.Spec{Name: "alpha", Hostnames: []string{"alpha.example.com"}},
			opts: func(o *Options) { o.HTTPPort, o.HTTPSPort = 8080, 0 }},
		{name: "models", spec: namespace.Spec{Name: "alpha"}, values: map[string]string{
			"namespaces.alpha.models.primary":  "anthropic/claude-sonnet-4-5",
			"namespaces.alpha.models.fallback": "anthropic/claude-haiku-4-5",
			"namespaces.beta.models.primary":   "openai/gpt-5", // another namespace's
		}},
		{name: "models-default-for-all", spec: namespace.Spec{Name: "alpha"}, values: map[string]string{
			"namespaces.*.models.primary":      "anthropic/claude-sonnet-4-5",
			"namespaces.alpha.models.fallback": "anthropic/claude-haiku-4-5",
		}},
		{name: "fallback-only", spec: namespace.Spec{Name: "alpha"}, values: map[string]string{
			"namespaces.alpha.models.fallback": "anthropic/claude-haiku-4-5",
		}},
		{name: "providers", spec: namespace.Spec{Name: "alpha", Hostnames: []string{"alpha.example.com"}}, values: map[string]string{
			"namespaces.alpha.models.primary":  "gpt-4o", // bare, as in the guide
			"namespaces.alpha.models.fallback": "anthropic/claude-sonnet-4-5",
		}, opts: func(o *Options) {
			o.Models = Models{BaseURL: "http://172.17.0.1:7071/", Token: "cmt.alpha.abc", Providers: []Provider{
				{Name: "anthropic", API: "anthropic-messages", Models: []string{"claude-sonnet-4-5"}},
				{Name: "openai", API: "openai-completions", Models: []string{"gpt-4o", "gpt-4o-mini"}},
			}}
		}},
		{name: "max-concurrent", spec: namespace.Spec{Name: "alpha", Quota: &quota.Limits{MaxConcurrentSkills: 3}}},
		{name: "max-concurrent-models", spec: namespace.Spec{Name: "alpha", Quota: &quota.Limits{MaxConcurrentSkills: 2}}, values: map[string]string{
			"namespaces.alpha.models.primary": "anthropic/claude-sonnet-4-5",
		}},
		{name: "no-skills-dir", spec: namespace.Spec{Name: "alpha"}, opts: func(o *Options) { o.SkillsDir = "" }},
		{name: "skills-path", spec: namespace.Spec{Name: "alpha"}, opts: func(o *Options) { o.HostSkillsDir = "/clawd/skills" }},
		{name: "skills-path-only", spec: namespace.Spec{Name: "alpha"}, opts: func(o *Options) { o.SkillsDir, o.HostSkillsDir = "", "/clawd/skills" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			if tt.opts != nil {
				tt.opts(&o)
			}
			got, err := Render(tt.spec, tt.values, o)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, got)
		})
	}
	t.Run("spare", func(t *testing.T) {
		got, err := Spare(opts)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "spare", got)
	})
}

// A namespace's gateway trusts the router's address on its network and
// nothing else of the pool (its own address included); so does a spare,
// whose adopting namespace keeps that address; the pool only when the
// address is unknown.
func TestTrustedProxies(t *testing.T) {
	pool := netip.MustParsePrefix("10.213.0.0/16")
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"router address", Options{Port: 18789, Proxy: netip.MustParseAddr("10.213.4.17"), SubnetPool: pool}, []string{"10.213.4.17"}},
		{"router address, no pool", Options{Port: 18789, Proxy: netip.MustParseAddr("10.213.4.17")}, []string{"10.213.4.17"}},
		{"unknown router address", Options{Port: 18789, SubnetPool: pool}, []string{"10.213.0.0/16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Render(namespace.Spec{Name: "alpha"}, nil, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var f struct {
				Gateway struct{ TrustedProxies []string }
			}
			if err := json.Unmarshal(out, &f); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.Gateway.TrustedProxies, tt.want) {
				t.Errorf("trustedProxies = %v, want %v", f.Gateway.TrustedProxies, tt.want)
			}
		})
	}
	if _, err := Render(namespace.Spec{Name: "alpha"}, nil, Options{Port: 18789}); err == nil {
		t.Error("rendered with nothing to trust")
	}
	for proxy, want := range map[string]string{"10.213.4.17": "10.213.4.17", "": "10.213.0.0/16"} {
		addr, _ := netip.ParseAddr(proxy)
		out, err := Spare(Options{Port: 18789, Proxy: addr, SubnetPool: pool})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "\"trustedProxies\": [\n      \""+want+"\"\n    ]") {
			t.Errorf("spare config told router %q does not trust only %s:\n%s", proxy, want, out)
		}
	}
	if _, err := Spare(Options{Port: 18789}); err == nil {
		t.Error("rendered a spare with nothing to trust")
	}
}

func TestModelsResolve(t *testing.T) {
	m := Models{Providers: []Provider{
		{Name: "openai", Models: []string{"gpt-4o", "shared"}},
		{Name: "azure", Models: []string{"shared"}},
	}}
	for ref, want := range map[string]string{
		"gpt-4o":          "clawd-openai/gpt-4o",
		"openai/gpt-4o":   "clawd-openai/gpt-4o",
		"openai/shared":   "clawd-openai/shared",
		"azure/gpt-4o":    "azure/gpt-4o", // not offered there
		"shared":          "shared",       // ambiguous: left for config set to refuse
		"unknown":         "unknown",
		"":                "",
		"anthropic/other": "anthropic/other",
	} {
		if got := m.Resolve(ref); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestRenderNeedsTheSubnetPool(t *testing.T) {
	if _, err := Render(namespace.Spec{Name: "alpha"}, nil, Options{Port: 18789}); err == nil {
		t.Error("rendered without a subnet pool to trust")
	}
	if _, err := Spare(Options{Port: 18789}); err == nil {
		t.Error("rendered a spare without a subnet pool to trust")
	}
}

// TestRenderIsStable guards the supervisor's "rewrite only when the bytes
// change": the same inputs must give the same bytes.
func TestRenderIsStable(t *testing.T) {
	spec := namespace.Spec{Name: "alpha", Hostnames: []string{"a.example", "b.example"}}
	values := map[string]string{"namespaces.alpha.models.primary": "anthropic/x", "namespaces.*.models.fallback": "anthropic/y"}
	opts := Options{Port: 18789, SubnetPool: netip.MustParsePrefix("10.213.0.0/16"), HTTPPort: 8080}
	first, _ := Render(spec, values, opts)
	for range 20 {
		if got, _ := Render(spec, values, opts); string(got) != string(first) {
			t.Fatalf("render is not deterministic:\n%s\n%s", first, got)
		}
	}
}

func TestForwardedFor(t *testing.T) {
	host := HostAddress()
	if host == "" || strings.HasPrefix(host, "127.") {
		t.Fatalf("HostAddress() = %q", host)
	}
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"203.0.113.7:5555":     "203.0.113.7",
		"[2001:db8::1]:443":    "2001:db8::1",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"127.0.0.1:40000":      host,
		"[::1]:40000":          host,
		"0.0.0.0":              host,
		"not an address":       host,
		"172.17.0.1":           "172.17.0.1",
		"10.213.0.1:1":         "10.213.0.1",
		"127.0.0.53":           host,
		"[::ffff:127.0.0.1]:1": host,
	} {
		if got := ForwardedFor(in); got != want {
			t.Errorf("ForwardedFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./openclawcfg -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}
