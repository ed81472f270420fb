package audit

import (
	"slices"
	"testing"

	"github.com/clawd-dev/clawd/config"
)

func TestPolicy(t *testing.T) {
	var p Policy
	if !p.Selects("a", TypeAuth) {
		t.Fatal("before any config, events must be recorded")
	}
	p.Set(map[string]string{
		"namespaces.*.audit.events":  "auth,quota",
		"namespaces.b.audit.enabled": "false",
		"namespaces.c.audit.events":  "all",
		"namespaces.d.audit.enabled": "true",
		"namespaces.d.audit.events":  "config_change",
	})
	for _, tc := range []struct {
		ns, typ string
		want    bool
	}{
		{"a", TypeAuth, true}, {"a", TypeQuota, true}, {"a", TypeConfigChange, false},
		{"b", TypeAuth, false}, {"c", TypeAPICall, true},
		{"d", TypeConfigChange, true}, {"d", TypeAuth, false},
		{"", TypeAdmin, true}, // the cluster-wide chain always records
	} {
		if got := p.Selects(tc.ns, tc.typ); got != tc.want {
			t.Errorf("Selects(%q, %q) = %v, want %v", tc.ns, tc.typ, got, tc.want)
		}
	}
}

// audit.events offers exactly the documented types.
func TestConfigOffersEveryType(t *testing.T) {
	k, _, err := config.Lookup("namespaces.*.audit.events")
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]string{"all"}, Types...); !slices.Equal(k.Enum, want) {
		t.Fatalf("audit.events offers %v, want %v", k.Enum, want)
	}
}

func TestPolicyShips(t *testing.T) {
	var p Policy
	p.Set(map[string]string{"namespaces.*.audit.backend": "elasticsearch", "namespaces.b.audit.backend": "builtin",
		"audit.elasticsearch.url": "http://es:9200"})
	if !p.Ships("a") || p.Ships("b") || p.Ships("") || p.ElasticURL() != "http://es:9200" {
		t.Fatalf("ships a %v, b %v, cluster %v, url %q", p.Ships("a"), p.Ships("b"), p.Ships(""), p.ElasticURL())
	}
}
