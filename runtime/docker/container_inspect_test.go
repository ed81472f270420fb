package docker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/clawd-dev/clawd/runtime"
)

// loadInspect reads a real GET /v1.41/containers/{id}/json reply recorded
// from Docker 20.10 (the container was made like Create makes it).
func loadInspect(t *testing.T, name string) container.InspectResponse {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var c container.InspectResponse
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return c
}

func TestInstanceFromInspect(t *testing.T) {
	started := time.Date(2026, 11, 24, 5, 51, 13, 280963679, time.UTC)
	tests := []struct {
		fixture string
		want    runtime.Instance
	}{
		{"inspect_created.json", runtime.Instance{State: runtime.StateCreated}},
		{"inspect_running.json", runtime.Instance{State: runtime.StateRunning, Address: "172.20.0.2:8080", Pid: 32281, StartedAt: started}},
		{"inspect_paused.json", runtime.Instance{State: runtime.StatePaused, Address: "172.20.0.2:8080", Pid: 32281, StartedAt: started}},
		{"inspect_exited.json", runtime.Instance{
			State: runtime.StateExited, StartedAt: started, ExitCode: 143,
			FinishedAt: time.Date(2026, 11, 24, 5, 51, 15, 436030026, time.UTC),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got := instanceFromInspect(loadInspect(t, tt.fixture))
			if got.Namespace != "demo" || got.Name != "clawd-f1x7ure0-demo" || got.Image != "clawd-fixture:1" || len(got.ContainerID) != 64 {
				t.Errorf("identity = %q %q %q %q", got.Namespace, got.Name, got.Image, got.ContainerID)
			}
			if got.Labels[LabelPort] != "8080" {
				t.Errorf("labels = %v", got.Labels)
			}
			if got.State != tt.want.State || got.Address != tt.want.Address || got.Pid != tt.want.Pid ||
				!got.StartedAt.Equal(tt.want.StartedAt) || !got.FinishedAt.Equal(tt.want.FinishedAt) ||
				got.ExitCode != tt.want.ExitCode || got.OOMKilled || got.Error != "" {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	t.Run("oom killed", func(t *testing.T) {
		got := instanceFromInspect(loadInspect(t, "inspect_oomkilled.json"))
		if got.State != runtime.StateExited || !got.OOMKilled || got.ExitCode != 137 || got.Namespace != "oom" {
			t.Errorf("got %+v", got)
		}
	})
}

func TestMapState(t *testing.T) {
	tests := []struct {
		in   container.ContainerState
		want runtime.State
	}{
		{container.StateCreated, runtime.StateCreated},
		{container.StateRunning, runtime.StateRunning},
		{container.StateRestarting, runtime.StateRunning},
		{container.StatePaused, runtime.StatePaused},
		{container.StateExited, runtime.StateExited},
		{container.StateDead, runtime.StateExited},
		{container.StateRemoving, runtime.StateExited},
		{"", runtime.StateMissing},
		{"weird", runtime.StateMissing},
	}
	for _, tt := range tests {
		if got := mapState(tt.in); got != tt.want {
			t.Errorf("mapState(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNetworkIP(t *testing.T) {
	c := loadInspect(t, "inspect_running.json")
	if got := networkIP(c.NetworkSettings, c.HostConfig); got != "172.20.0.2" {
		t.Errorf("by network id: %q", got)
	}
	// Attached by name (containers made by hand or older clawd builds).
	for name := range c.NetworkSettings.Networks {
		c.HostConfig.NetworkMode = container.NetworkMode(name)
	}
	if got := networkIP(c.NetworkSettings, c.HostConfig); got != "172.20.0.2" {
		t.Errorf("by network name: %q", got)
	}
	if got := networkIP(nil, nil); got != "" {
		t.Errorf("no settings: %q", got)
	}
}

func TestParseDockerTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"0001-01-01T00:00:00Z", time.Time{}},
		{"", time.Time{}},
		{"garbage", time.Time{}},
		{"2026-11-24T05:51:13.280963679Z", time.Date(2026, 11, 24, 5, 51, 13, 280963679, time.UTC)},
		{"2026-11-24T05:51:13Z", time.Date(2026, 11, 24, 5, 51, 13, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := parseDockerTime(tt.in); !got.Equal(tt.want) {
			t.Errorf("parseDockerTime(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestAddress(t *testing.T) {
	tests := []struct{ ip, port, want string }{
		{"172.20.0.2", "8080", "172.20.0.2:8080"},
		{"fd00::2", "8080", "[fd00::2]:8080"},
		{"", "8080", ""},
		{"172.20.0.2", "", ""},
		{"172.20.0.2", "http", ""},
	}
	for _, tt := range tests {
		if got := address(tt.ip, tt.port); got != tt.want {
			t.Errorf("address(%q, %q) = %q, want %q", tt.ip, tt.port, got, tt.want)
		}
	}
}

func TestSpareInstance(t *testing.T) {
	r := newRuntime(nil, Config{ClusterID: "f1x7ure0"})
	base := loadInspect(t, "inspect_running.json")
	var netName string
	for n := range base.NetworkSettings.Networks {
		netName = n
	}
	ep := base.NetworkSettings.Networks[netName]
	spare := func(name string, nets ...string) container.InspectResponse {
		c := base
		cfg := *base.Config
		cfg.Labels = map[string]string{LabelSpare: "s1", LabelPort: "8080", runtime.LabelRole: "spare"}
		c.Config = &cfg
		c.Name = "/" + name
		ns := *base.NetworkSettings
		ns.Networks = map[string]*network.EndpointSettings{}
		for _, n := range nets {
			ns.Networks[n] = ep
		}
		c.NetworkSettings = &ns
		return c
	}
	tests := []struct {
		name       string
		c          container.InspectResponse
		ns         string
		isSpare    bool
		hasAddress bool
	}{
		{"spare", spare("clawd-f1x7ure0.spare-s1", "clawd-f1x7ure0.spare-s1-net"), "", true, true},
		{"renamed only", spare("clawd-f1x7ure0-a", "clawd-f1x7ure0.spare-s1-net"), "a", true, false},
		{"on both networks", spare("clawd-f1x7ure0-a", "clawd-f1x7ure0.spare-s1-net", "clawd-f1x7ure0-a-net"), "a", true, true},
		{"adopted", spare("clawd-f1x7ure0-a", "clawd-f1x7ure0-a-net"), "a", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.instance(tt.c)
			if got.Namespace != tt.ns || got.Spare != tt.isSpare || got.SpareID != "s1" || (got.Address != "") != tt.hasAddress {
				t.Errorf("got %+v", got)
			}
		})
	}
	// A namespace's own container is left as instanceFromInspect maps it.
	if got := r.instance(base); got.SpareID != "" || got.Spare || got.Namespace != "demo" || got.Address == "" {
		t.Errorf("own container: %+v", got)
	}
}

func TestMountedVolumes(t *testing.T) {
	c := loadInspect(t, "inspect_running.json")
	data, skills := mountedVolumes(c)
	if data != "clawd-f1x7ure0-demo-data" || skills != "clawd-f1x7ure0-demo-skills" {
		t.Errorf("mounted volumes = %q %q", data, skills)
	}
}
