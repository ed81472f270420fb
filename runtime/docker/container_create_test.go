package docker

import (
	"maps"
	"slices"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/clawd-dev/clawd/runtime"
)

func validSpec() runtime.GatewaySpec {
	return runtime.GatewaySpec{
		Namespace: "acme", Image: "openclaw:1", Port: 18789,
		NanoCPUs: 2e9, MemoryBytes: 1 << 30,
		Env:      map[string]string{"Z": "1", "A": "2", envNamespace: "spoof", envStateDir: "/spoof"},
		StateDir: "/home/node/.openclaw", SkillsDir: "/home/node/skills",
	}
}

func TestCreateOptions(t *testing.T) {
	r := newRuntime(nil, Config{ClusterID: "0123456789abcdef"})
	g := r.namespaceGateway("acme")
	g.data, g.skills = "vol-data", "vol-skills"
	opts := r.createOptions(validSpec(), g, "netid")

	if opts.Name != "clawd-01234567-acme" || opts.Config.Image != "openclaw:1" {
		t.Errorf("name %q image %q", opts.Name, opts.Config.Image)
	}
	// The runtime's variables win over the spec's and the order is stable.
	wantEnv := []string{"CLAWD_NAMESPACE=acme", "A=2", "Z=1", "OPENCLAW_STATE_DIR=/home/node/.openclaw", "NODE_COMPILE_CACHE=/home/node/.openclaw/.node-compile-cache"}
	if !slices.Equal(opts.Config.Env, wantEnv) {
		t.Errorf("env = %v, want %v", opts.Config.Env, wantEnv)
	}
	if l := opts.Config.Labels; l[LabelPort] != "18789" || l[runtime.LabelRole] != "gateway" || !r.owned(l) {
		t.Errorf("labels = %v", l)
	}
	hc := opts.HostConfig
	if hc.NetworkMode != "netid" || hc.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("network %q restart %q", hc.NetworkMode, hc.RestartPolicy.Name)
	}
	if hc.NanoCPUs != 2e9 || hc.Memory != 1<<30 || hc.MemorySwap != 1<<30 || *hc.PidsLimit != defaultPidsLimit {
		t.Errorf("resources = %+v", hc.Resources)
	}
	if !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Equal(hc.SecurityOpt, []string{"no-new-privileges"}) || !*hc.Init || !hc.ReadonlyRootfs {
		t.Errorf("hardening: cap drop %v, security %v, init %v, ro %v", hc.CapDrop, hc.SecurityOpt, *hc.Init, hc.ReadonlyRootfs)
	}
	// A read-only root, with what OpenClaw writes outside its volumes on
	// size-capped tmpfs: /tmp, and the home its state dir is in.
	wantTmpfs := map[string]string{
		"/tmp":       "rw,nosuid,nodev,mode=1777,size=256m",
		"/home/node": "rw,nosuid,nodev,mode=0755,uid=1000,gid=1000,size=64m",
	}
	if !maps.Equal(hc.Tmpfs, wantTmpfs) {
		t.Errorf("tmpfs = %v, want %v", hc.Tmpfs, wantTmpfs)
	}
	if len(hc.Ulimits) != 1 || hc.Ulimits[0].Name != "nofile" || hc.Ulimits[0].Soft != defaultNofile || hc.Ulimits[0].Hard != defaultNofile {
		t.Errorf("ulimits = %+v, want nofile %d", hc.Ulimits, defaultNofile)
	}
	wantMounts := []mount.Mount{
		{Type: mount.TypeVolume, Source: "vol-data", Target: "/home/node/.openclaw"},
		{Type: mount.TypeVolume, Source: "vol-skills", Target: "/home/node/skills"},
	}
	if !slices.Equal(hc.Mounts, wantMounts) {
		t.Errorf("mounts = %+v", hc.Mounts)
	}

	uncapped := validSpec()
	uncapped.MemoryBytes, uncapped.PidsLimit = 0, 100
	hc = r.createOptions(uncapped, g, "n").HostConfig
	if hc.Memory != 0 || hc.MemorySwap != 0 || *hc.PidsLimit != 100 {
		t.Errorf("uncapped memory / explicit pids: %+v", hc.Resources)
	}

	withSkills := validSpec()
	withSkills.HostSkills, withSkills.HostSkillsDir = "/srv/skills/acme", "/clawd/skills"
	opts = r.createOptions(withSkills, g, "n")
	if l := opts.Config.Labels[LabelSkillsPath]; l != "/srv/skills/acme" {
		t.Errorf("skills path label = %q", l)
	}
	if m := opts.HostConfig.Mounts; len(m) != 3 || m[2].Type != mount.TypeBind || m[2].Source != "/srv/skills/acme" ||
		m[2].Target != "/clawd/skills" || !m[2].ReadOnly {
		t.Errorf("mounts with a host skills dir = %+v, want it bound read-only last", m)
	}
	if _, ok := r.createOptions(validSpec(), g, "n").Config.Labels[LabelSkillsPath]; ok {
		t.Error("skills path label without a host skills dir")
	}
}

func TestCheckSpec(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*runtime.GatewaySpec)
		ok     bool
	}{
		{"valid", func(*runtime.GatewaySpec) {}, true},
		{"bad namespace", func(s *runtime.GatewaySpec) { s.Namespace = "a/b" }, false},
		{"no image", func(s *runtime.GatewaySpec) { s.Image = "" }, false},
		{"no port", func(s *runtime.GatewaySpec) { s.Port = 0 }, false},
		{"port too big", func(s *runtime.GatewaySpec) { s.Port = 70000 }, false},
		{"negative memory", func(s *runtime.GatewaySpec) { s.MemoryBytes = -1 }, false},
		{"relative state dir", func(s *runtime.GatewaySpec) { s.StateDir = "state" }, false},
		{"root skills dir", func(s *runtime.GatewaySpec) { s.SkillsDir = "/" }, false},
		{"same dirs", func(s *runtime.GatewaySpec) { s.SkillsDir = s.StateDir + "/" }, false},
		{"host skills", func(s *runtime.GatewaySpec) { s.HostSkills, s.HostSkillsDir = "/srv/skills", "/clawd/skills" }, true},
		{"relative host skills", func(s *runtime.GatewaySpec) { s.HostSkills, s.HostSkillsDir = "skills", "/clawd/skills" }, false},
		{"host skills without a mount point", func(s *runtime.GatewaySpec) { s.HostSkills = "/srv/skills" }, false},
		{"host skills over the state dir", func(s *runtime.GatewaySpec) { s.HostSkills, s.HostSkillsDir = "/srv/skills", s.StateDir }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			tt.mutate(&s)
			err := checkSpec(s)
			if tt.ok != (err == nil) {
				t.Fatalf("checkSpec = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !cerrdefs.IsInvalidArgument(err) {
				t.Errorf("%v is not an invalid argument", err)
			}
		})
	}
}
