package docker

import (
	"testing"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/clawd-dev/clawd/runtime"
)

func TestNames(t *testing.T) {
	r := newRuntime(nil, Config{ClusterID: "0123456789abcdef0123456789abcdef"})
	tests := []struct{ got, want string }{
		{r.containerName("acme"), "clawd-01234567-acme"},
		{r.networkName("acme"), "clawd-01234567-acme-net"},
		{r.volumeName("acme", roleData), "clawd-01234567-acme-data"},
		{r.volumeName("acme", roleSkills), "clawd-01234567-acme-skills"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	// A cluster id shorter than 8 characters is used whole.
	if got := newRuntime(nil, Config{ClusterID: "abc"}).containerName("x"); got != "clawd-abc-x" {
		t.Errorf("short cluster id: %q", got)
	}
}

func TestLabelsAndOwnership(t *testing.T) {
	r := newRuntime(nil, Config{ClusterID: "cluster-a"})
	l := r.labels("acme", roleData)
	want := map[string]string{
		runtime.LabelManaged: "true", runtime.LabelCluster: "cluster-a",
		runtime.LabelNamespace: "acme", runtime.LabelRole: "data",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("label %s = %q, want %q", k, l[k], v)
		}
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"ours", l, true},
		{"no labels", nil, false},
		{"other cluster", map[string]string{runtime.LabelManaged: "true", runtime.LabelCluster: "cluster-b"}, false},
		{"cluster label without managed", map[string]string{runtime.LabelCluster: "cluster-a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.owned(tt.labels); got != tt.want {
				t.Errorf("owned = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckNamespace(t *testing.T) {
	for _, ns := range []string{"acme", "a", "team-1", "A_b.c"} {
		if err := checkNamespace(ns); err != nil {
			t.Errorf("checkNamespace(%q) = %v", ns, err)
		}
	}
	for _, ns := range []string{"", "-acme", "a/b", "a b", "ä"} {
		if err := checkNamespace(ns); !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("checkNamespace(%q) = %v, want invalid argument", ns, err)
		}
	}
}

func TestNewRejectsBadClusterID(t *testing.T) {
	for _, id := range []string{"", "has space", "/slash"} {
		if _, err := New(Config{ClusterID: id}); err == nil {
			t.Errorf("New accepted cluster id %q", id)
		}
	}
}

func TestSpareNames(t *testing.T) {
	r := newRuntime(nil, Config{ClusterID: "0123456789abcdef0123456789abcdef"})
	g := r.spareGateway("k3x")
	for _, tt := range []struct{ got, want string }{
		{g.container, "clawd-01234567.spare-k3x"},
		{g.network, "clawd-01234567.spare-k3x-net"},
		{g.data, "clawd-01234567.spare-k3x-data"},
		{g.skills, "clawd-01234567.spare-k3x-skills"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	l := r.gatewayLabels(g, g.role())
	if l[runtime.LabelRole] != "spare" || l[LabelSpare] != "k3x" || l[runtime.LabelNamespace] != "" || !r.owned(l) {
		t.Errorf("spare labels = %v", l)
	}
	if l := r.gatewayLabels(r.namespaceGateway("acme"), roleData); l[LabelSpare] != "" || l[runtime.LabelNamespace] != "acme" {
		t.Errorf("namespace labels = %v", l)
	}

	tests := []struct{ name, ns, spare string }{
		{"clawd-01234567-acme", "acme", ""},
		{"/clawd-01234567-acme", "acme", ""},
		{"clawd-01234567.spare-k3x", "", "k3x"},
		{"/clawd-01234567.spare-k3x", "", "k3x"},
		{"clawd-01234567.spare-", "", ""},
		{"clawd-01234567.spare-UPPER", "", ""},
		{"clawd-76543210-acme", "", ""},
		{"clawd-01234567-", "", ""},
		{"something", "", ""},
	}
	for _, tt := range tests {
		if ns, spare := r.namespaceOf(tt.name), r.spareOf(tt.name); ns != tt.ns || spare != tt.spare {
			t.Errorf("%q: namespace %q spare %q, want %q %q", tt.name, ns, spare, tt.ns, tt.spare)
		}
	}
	for _, id := range []string{"", "UP", "a-b", "a.b", "12345678901234567"} {
		if err := checkSpareID(id); !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("checkSpareID(%q) = %v", id, err)
		}
	}
}
