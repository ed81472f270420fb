package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

type statusView struct {
	Pool *struct {
		Size  int `json:"size"`
		Ready int `json:"ready"`
		Alive int `json:"alive"`
	} `json:"pool"`
}

func (d *daemon) poolReady() int {
	var s statusView
	if err := json.Unmarshal([]byte(d.mustClawd("status", "-o", "json")), &s); err != nil || s.Pool == nil {
		d.t.Fatalf("status has no pool: %v", err)
	}
	return s.Pool.Ready
}

// mounts returns the volumes a container mounts, sorted: Docker lists
// them in no fixed order.
func mounts(t *testing.T, id string) []string {
	m := strings.Fields(dockerInspect(t, "{{range .Mounts}}{{.Name}} {{end}}", id))
	sort.Strings(m)
	return m
}

func TestNewNamespaceAdoptsAWarmGateway(t *testing.T) {
	d := startDaemon(t, "--warmpool.size=2")
	eventually(t, time.Minute, "2 ready spares", func() bool { return d.poolReady() == 2 })

	start := time.Now()
	d.mustClawd("namespace", "create", "adopter", "--quota-cpu=0.5", "--quota-memory=128Mi", "--hostname=adopter.localhost")
	took := time.Since(start)
	v := d.get("adopter")
	id := v.Status.ContainerID
	if spare := dockerInspect(t, `{{index .Config.Labels "io.clawd.spare"}}`, id); spare == "" {
		t.Fatalf("namespace got a cold container, not a spare (create took %s)", took)
	}
	if name := dockerInspect(t, "{{.Name}}", id); name != "/clawd-"+d.cluster[:8]+"-adopter" {
		t.Errorf("adopted container is named %s", name)
	}
	if got := dockerInspect(t, "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}", id); got != fmt.Sprintf("500000000 %d", 128<<20) {
		t.Errorf("adopted caps %s, want 0.5 CPU and 128Mi", got)
	}
	if nets := dockerInspect(t, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", id); strings.TrimSpace(nets) != "clawd-"+d.cluster[:8]+"-adopter-net" {
		t.Errorf("adopted gateway is on networks %q, want only its namespace's", nets)
	}
	code, body := d.viaRouter("adopter.localhost", "/__standin")
	var info standinInfo
	if code != 200 || json.Unmarshal(body, &info) != nil || info.Namespace != "adopter" {
		t.Fatalf("through the router: %d %s", code, body)
	}
	eventually(t, time.Minute, "the pool refilled", func() bool { return d.poolReady() == 2 })

	// A second adopter gets other volumes: no data is shared.
	d.mustClawd("namespace", "create", "second", "--hostname=second.localhost")
	a, b := mounts(t, id), mounts(t, d.get("second").Status.ContainerID)
	for _, va := range a {
		for _, vb := range b {
			if va == vb {
				t.Fatalf("two namespaces mount volume %s", va)
			}
		}
	}
	// Evicted and woken, the adopter keeps its adopted volumes.
	d.mustClawd("namespace", "sleep", "adopter", "--to=evicted")
	d.waitPhase("adopter", "Evicted", 30*time.Second)
	if code, _ := d.viaRouter("adopter.localhost", "/__standin"); code != 200 {
		t.Fatalf("waking an evicted adopter: %d", code)
	}
	if got := mounts(t, d.get("adopter").Status.ContainerID); strings.Join(got, ",") != strings.Join(a, ",") {
		t.Fatalf("re-created adopter mounts %v, want its adopted volumes %v", got, a)
	}
	d.mustClawd("namespace", "delete", "adopter", "--purge")
	for _, vol := range a {
		if err := dockerRun("volume", "inspect", vol); err == nil {
			t.Errorf("purge left the adopted volume %s", vol)
		}
	}
}

func TestKillDuringAdoptionServesEachNamespaceOnce(t *testing.T) {
	d := startDaemon(t, "--warmpool.size=4")
	eventually(t, time.Minute, "4 ready spares", func() bool { return d.poolReady() == 4 })
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d.clawd("namespace", "create", fmt.Sprintf("race-%d", i), "--wait=false")
		}(i)
	}
	// A spare is claimed by its rename to the namespace's container name.
	spareNames := func() []string {
		return dockerLines(t, "ps", "-a", "--format", "{{.Names}}", "--filter", "label=io.clawd.cluster="+d.cluster, "--filter", "label=io.clawd.spare")
	}
	adopted := func() (n int) {
		for _, name := range spareNames() {
			if !strings.Contains(name, ".spare-") {
				n++
			}
		}
		return n
	}
	d.kill9When(time.Minute, "the first adoption of a spare", func() bool { return adopted() > 0 })
	wg.Wait()
	d.start()
	for i := 0; i < 6; i++ {
		d.clawd("namespace", "create", fmt.Sprintf("race-%d", i), "--wait=false")
	}
	owner := map[string]string{}
	for i := 0; i < 6; i++ {
		name := fmt.Sprintf("race-%d", i)
		v := d.waitPhase(name, "Running", 2*time.Minute)
		if got := standinNamespace(t, v.Status.Address); got != name {
			t.Errorf("%s's gateway says it serves %q", name, got)
		}
		for _, vol := range mounts(t, v.Status.ContainerID) {
			if o, ok := owner[vol]; ok {
				t.Errorf("volume %s is mounted by both %s and %s", vol, o, name)
			}
			owner[vol] = name
		}
	}
}

func TestMemoryBudgetStopsTheLeastRecentlyUsed(t *testing.T) {
	d := startDaemon(t, "--warmpool.size=0", "--runtime.memorybudget=200Mi")
	for _, n := range []string{"old", "mid", "new"} {
		d.mustClawd("namespace", "create", n, "--quota-memory=64Mi", "--hostname="+n+".localhost")
		d.viaRouter(n+".localhost", "/healthz")
	}
	d.mustClawd("namespace", "sleep", "mid", "--to=paused")
	d.waitPhase("mid", "Paused", 30*time.Second)

	// A fourth namespace does not fit: the Paused one is stopped first.
	d.mustClawd("namespace", "create", "fourth", "--quota-memory=64Mi", "--hostname=fourth.localhost")
	if p := d.get("mid").Status.Phase; p != "Stopped" {
		t.Fatalf("paused namespace is %s, want Stopped to make room", p)
	}
	for _, n := range []string{"old", "new", "fourth"} {
		if p := d.get(n).Status.Phase; p != "Running" {
			t.Fatalf("%s is %s", n, p)
		}
	}
	// Waking mid needs room again: now the least recently used Running
	// namespace, old, is stopped.
	if code, body := d.viaRouter("mid.localhost", "/healthz"); code != 200 {
		t.Fatalf("waking mid: %d %s", code, body)
	}
	if p := d.get("old").Status.Phase; p != "Stopped" {
		t.Fatalf("old is %s, want Stopped (least recently used)", p)
	}
	if p := d.get("new").Status.Phase; p != "Running" {
		t.Fatalf("new is %s, want Running", p)
	}
	// Bigger than the whole budget: refused with a clear reason, not a hang.
	d.mustClawd("namespace", "create", "huge", "--quota-memory=300Mi", "--wait=false")
	eventually(t, 30*time.Second, "huge reports the memory shortage", func() bool {
		return strings.Contains(d.get("huge").Status.Reason, "memory budget")
	})
}

func standinNamespace(t *testing.T, addr string) string {
	out, err := exec.Command("curl", "-s", "-m", "3", "http://"+addr+"/__standin").Output()
	if err != nil {
		return ""
	}
	var info standinInfo
	json.Unmarshal(out, &info)
	return info.Namespace
}

func dockerRun(args ...string) error { return exec.Command("docker", args...).Run() }

// The guide's first command asks for 4 CPUs; on a host with fewer, the cap
// is clamped to the host on the warm-pool path too (a cold create accepts
// it as is), instead of failing the adoption.
func TestMoreCPUsThanTheHostThroughThePool(t *testing.T) {
	d := startDaemon(t, "--warmpool.size=1")
	eventually(t, time.Minute, "a ready spare", func() bool { return d.poolReady() == 1 })
	d.mustClawd("namespace", "create", "big", "--quota-cpu=64", "--quota-memory=1Gi", "--hostname=big.localhost")
	id := d.get("big").Status.ContainerID
	if spare := dockerInspect(t, `{{index .Config.Labels "io.clawd.spare"}}`, id); spare == "" {
		t.Fatal("namespace big did not adopt the spare")
	}
	ncpu := strings.Join(dockerLines(t, "info", "--format", "{{.NCPU}}"), "")
	if got := dockerInspect(t, "{{.HostConfig.NanoCpus}}", id); got != ncpu+"000000000" {
		t.Errorf("NanoCpus %s, want the host's %s CPUs", got, ncpu)
	}
}
