package config

import (
	"slices"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	keys := Keys()
	if !slices.IsSortedFunc(keys, func(a, b Key) int { return strings.Compare(a.Pattern, b.Pattern) }) {
		t.Fatal("registry is not sorted by Pattern")
	}
	for i, k := range keys {
		t.Run(k.Pattern, func(t *testing.T) {
			if i > 0 && keys[i-1].Pattern == k.Pattern {
				t.Fatal("duplicate pattern")
			}
			if strings.HasPrefix(k.Kind.String(), "Kind(") {
				t.Fatalf("invalid kind %d", k.Kind)
			}
			if k.Description == "" {
				t.Fatal("no description")
			}
			if (k.Kind == Enum || k.Kind == List) != (len(k.Enum) > 0) {
				t.Fatalf("kind %s with Enum %v", k.Kind, k.Enum)
			}
			if k.Default != "" {
				if _, err := Normalize(k.Name("*"), k.Default); err != nil {
					t.Fatalf("default does not validate: %v", err)
				}
			}
		})
	}
	i := slices.IndexFunc(keys, func(k Key) bool { return len(k.Enum) > 0 })
	keys[i].Enum = append(keys[i].Enum[:0], "edited")
	if Keys()[i].Enum[0] == "edited" {
		t.Fatal("Keys exposes the registry to edits")
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		key     string
		pattern string
		ns      string
		wantErr string
	}{
		{key: "namespaces.tenant-a.models.primary", pattern: "namespaces.*.models.primary", ns: "tenant-a"},
		{key: "namespaces.tenant-a.models.fallback", pattern: "namespaces.*.models.fallback", ns: "tenant-a"},
		{key: "namespaces.*.autoCleanup.enabled", pattern: "namespaces.*.autoCleanup.enabled", ns: "*"},
		{key: "namespaces.a.minInstances", pattern: "namespaces.*.minInstances", ns: "a"},
		{key: "namespaces.t1.dataRetention.logs", pattern: "namespaces.*.dataRetention.logs", ns: "t1"},
		{key: "security.crossNamespaceAccess", pattern: "security.crossNamespaceAccess", ns: ""},
		{key: "metering.retention", pattern: "metering.retention", ns: ""},
		{key: "namespaces.tenant-a.models.primry", wantErr: `unknown config key "namespaces.tenant-a.models.primry"`},
		{key: "models.primary", wantErr: "valid keys, with <ns> a namespace or * for all: billing.gracePeriod, metering.backend|currency|enabled"},
		{key: "namespaces.tenant-a.metering.enabled", wantErr: "unknown config key"},
		{key: "namespaces.tenant-a", wantErr: "unknown config key"},
		{key: "", wantErr: "unknown config key"},
		{key: "namespaces.Tenant-A.Models.Primary", wantErr: "did you mean namespaces.tenant-a.models.primary?"},
		{key: "metering.Enabled", wantErr: "did you mean metering.enabled?"},
		{key: "namespaces.*.autoCleanup.after=\"1h\"", wantErr: "unknown config key"},
		{key: "namespaces.Tenant_A.models.primary", wantErr: `invalid namespace "Tenant_A"`},
		{key: "namespaces..models.primary", wantErr: `invalid namespace ""`},
		{key: "namespaces.-a.models.primary", wantErr: `invalid namespace "-a"`},
		{key: "namespaces." + strings.Repeat("a", 41) + ".models.primary", wantErr: "invalid namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			k, ns, err := Lookup(tt.key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Lookup(%q) = %q, %q, %v; want error containing %q", tt.key, k.Pattern, ns, err, tt.wantErr)
				}
				return
			}
			if err != nil || k.Pattern != tt.pattern || ns != tt.ns {
				t.Fatalf("Lookup(%q) = %q, %q, %v; want %q, %q", tt.key, k.Pattern, ns, err, tt.pattern, tt.ns)
			}
			if name := k.Name(ns); name != tt.key {
				t.Fatalf("Name(%q) = %q; want %q", ns, name, tt.key)
			}
		})
	}
}

func TestLookupErrorListsEveryKey(t *testing.T) {
	_, _, err := Lookup("nope")
	msg := err.Error()
	for _, want := range []string{
		"namespaces.<ns>.models.fallback|primary",
		"namespaces.<ns>.dataRetention.conversations|logs|metrics",
		"namespaces.<ns>.minInstances, ", "namespaces.<ns>.warmupOnCreate",
		"security.crossNamespaceAccess",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestEffective(t *testing.T) {
	values := map[string]string{
		"namespaces.tenant-a.models.primary":  "gpt-4o",
		"namespaces.*.models.primary":         "claude-3.5-sonnet",
		"namespaces.tenant-a.idle.pauseAfter": "10m",
		"namespaces.*.autoCleanup.enabled":    "false",
		"metering.enabled":                    "true",
	}
	tests := []struct {
		name, ns, leaf string
		want           string
		ok             bool
	}{
		{"own value", "tenant-a", "models.primary", "gpt-4o", true},
		{"wildcard", "tenant-b", "models.primary", "claude-3.5-sonnet", true},
		{"own beats default", "tenant-a", "idle.pauseAfter", "10m", true},
		{"key default", "tenant-b", "idle.pauseAfter", "5m", true},
		{"wildcard beats key default", "tenant-a", "autoCleanup.enabled", "false", true},
		{"no value, no default", "tenant-a", "models.fallback", "", false},
		{"the * namespace", "*", "models.primary", "claude-3.5-sonnet", true},
		{"global stored", "", "metering.enabled", "true", true},
		{"global default", "", "security.crossNamespaceAccess", "false", true},
		{"unknown leaf", "tenant-a", "models.tertiary", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Effective(values, tt.ns, tt.leaf)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Effective(%q, %q) = %q, %v; want %q, %v", tt.ns, tt.leaf, got, ok, tt.want, tt.ok)
			}
		})
	}
	if got, ok := Effective(nil, "x", "minInstances"); got != "0" || !ok {
		t.Fatalf("Effective(nil) = %q, %v; want the default", got, ok)
	}
}
