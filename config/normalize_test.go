package config

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	const ns = "namespaces.tenant-a."
	tests := []struct {
		key, value string
		want       string
		wantErr    string
	}{
		// String
		{key: ns + "models.primary", value: "gpt-4o", want: "gpt-4o"},
		{key: ns + "models.fallback", value: " anthropic/claude-3.5-sonnet ", want: "anthropic/claude-3.5-sonnet"},
		{key: ns + "models.primary", value: "", wantErr: "without whitespace"},
		{key: ns + "models.primary", value: "gpt 4o", wantErr: `invalid value "gpt 4o" for namespaces.tenant-a.models.primary`},
		{key: ns + "models.primary", value: "gpt\x00", wantErr: "without whitespace"},
		{key: ns + "models.primary", value: strings.Repeat("x", 201), wantErr: "1 to 200 characters"},
		{key: ns + "models.primary", value: strings.Repeat("模", 200), want: strings.Repeat("模", 200)},
		// Bool
		{key: ns + "encryption.enabled", value: "TRUE", want: "true"},
		{key: "security.crossNamespaceAccess", value: "false", want: "false"},
		{key: "metering.enabled", value: "yes", want: "true"},
		{key: "metering.enabled", value: "Off", want: "false"},
		{key: "metering.enabled", value: "enabled", wantErr: "want true or false"},
		// Int
		{key: ns + "minInstances", value: "1", want: "1"},
		{key: ns + "minInstances", value: "00", want: "0"},
		{key: ns + "minInstances", value: "2", wantErr: "a whole number from 0 to 1"},
		{key: ns + "minInstances", value: "-1", wantErr: "a whole number from 0 to 1"},
		{key: ns + "minInstances", value: "one", wantErr: "a whole number from 0 to 1"},
		// Duration
		{key: "metering.retention", value: "90d", want: "90d"},
		{key: ns + "dataRetention.metrics", value: "180d", want: "180d"},
		{key: "namespaces.*.autoCleanup.after", value: "1h", want: "1h"},
		{key: ns + "idle.evictAfter", value: "24h", want: "1d"},
		{key: ns + "idle.pauseAfter", value: "90s", want: "1m30s"},
		{key: ns + "dataRetention.logs", value: "2w", want: "14d"},
		{key: ns + "dataRetention.logs", value: "-1d", wantErr: `want a duration such as "90d"`},
		{key: ns + "dataRetention.logs", value: "30 days", wantErr: `want a duration such as "90d"`},
		// Enum
		{key: ns + "encryption.algorithm", value: "aes-256-gcm", want: "AES-256-GCM"},
		{key: ns + "encryption.algorithm", value: "CHACHA20-POLY1305", want: "ChaCha20-Poly1305"},
		{key: ns + "encryption.algorithm", value: "AES-128", wantErr: "want one of AES-256-GCM, ChaCha20-Poly1305"},
		{key: ns + "encryption.keySource", value: "Vault", want: "vault"},
		{key: ns + "skills.isolation", value: "strict", want: "strict"},
		{key: "metering.backend", value: "prometheus", want: "prometheus"},
		{key: ns + "audit.backend", value: "kafka", wantErr: "want one of builtin, file, elasticsearch"},
		// Path
		{key: ns + "skills.path", value: "/var/lib/openclaw/tenants/tenant-a/skills", want: "/var/lib/openclaw/tenants/tenant-a/skills"},
		{key: ns + "skills.path", value: "/var/lib//openclaw/./x/../skills/", want: "/var/lib/openclaw/skills"},
		{key: ns + "skills.path", value: "skills", wantErr: "want an absolute path"},
		{key: ns + "skills.path", value: "", wantErr: "want an absolute path"},
		{key: ns + "skills.path", value: "/a\nb", wantErr: "want an absolute path"},
		{key: ns + "skills.path", value: "/", wantErr: "outside / (a tenant's gateway mounts it)"},
		{key: ns + "skills.path", value: "/etc", wantErr: "outside /etc"},
		{key: ns + "skills.path", value: "/srv/../etc/ssh", wantErr: "outside /etc"},
		{key: ns + "skills.path", value: "/var/lib/docker/volumes/x", wantErr: "outside /var/lib/docker"},
		{key: ns + "skills.path", value: "/etcetera/skills", want: "/etcetera/skills"},
		// List
		{key: ns + "audit.events", value: "all", want: "all"},
		{key: ns + "audit.events", value: "ALL", want: "all"},
		{key: ns + "audit.events", value: "auth, api_call,auth", want: "api_call,auth"},
		{key: ns + "audit.events", value: "api_call,all", want: "all"},
		{key: ns + "audit.events", value: "api_call,,auth", wantErr: `want "all" or a comma-separated list of api_call, config_change`},
		{key: ns + "audit.events", value: "login", wantErr: "want \"all\" or a comma-separated list"},
		{key: ns + "audit.events", value: "", wantErr: "comma-separated list"},
		// Key errors come from Lookup.
		{key: ns + "models.primry", value: "x", wantErr: "unknown config key"},
		{key: "namespaces.A.models.primary", value: "x", wantErr: `invalid namespace "A"`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			got, err := Normalize(tt.key, tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Normalize(%q, %q) = %q, %v; want error containing %q", tt.key, tt.value, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q, %q) = %q, %v; want %q", tt.key, tt.value, got, err, tt.want)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, k := range Keys() {
		for _, v := range []string{k.Default, "true", "90d", "gpt-4o", "/a/../b", "AES-256-GCM", "auth,api_call", "1"} {
			f.Add(k.Name("tenant-a"), v)
		}
	}
	f.Add("namespaces.*.models.primary", " x ")
	f.Add("namespaces.Bad.models.primary", "x")
	f.Fuzz(func(t *testing.T, key, value string) {
		k, ns, err := Lookup(key)
		if err == nil && k.Name(ns) != key {
			t.Fatalf("Lookup(%q) = %q, %q; Name gives %q", key, k.Pattern, ns, k.Name(ns))
		}
		v1, err := Normalize(key, value)
		if err != nil {
			return
		}
		v2, err := Normalize(key, v1)
		if err != nil || v2 != v1 {
			t.Fatalf("Normalize(%q, %q) = %q; again: %q, %v", key, value, v1, v2, err)
		}
	})
}
