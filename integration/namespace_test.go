package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTwoNamespacesRouteToTheirOwnGateway(t *testing.T) {
	// With a pool: caps and isolation must hold for adopted gateways too.
	d := startDaemon(t, "--warmpool.size=1")
	d.mustClawd("namespace", "create", "alpha", "--display-name=客户A", "--quota-cpu=0.5", "--quota-memory=256Mi", "--quota-skills=50", "--hostname=alpha.localhost")
	d.mustClawd("namespace", "create", "beta", "--quota-cpu", "1", "--quota-memory", "128Mi", "--hostname", "beta.localhost", "--hostname=www.beta.test")

	for host, want := range map[string]string{"alpha.localhost": "alpha", "beta.localhost": "beta", "WWW.Beta.Test:8080": "beta"} {
		code, body := d.viaRouter(host, "/__standin")
		var info standinInfo
		if code != 200 || json.Unmarshal(body, &info) != nil || info.Namespace != want {
			t.Fatalf("Host %s: got %d %s, want namespace %s", host, code, body, want)
		}
	}
	if code, body := d.viaRouter("gamma.localhost", "/healthz"); code != 404 || !strings.Contains(string(body), "no namespace serves host") {
		t.Fatalf("unknown host: got %d %s, want 404 problem", code, body)
	}

	a := d.get("alpha")
	id := a.Status.ContainerID
	checks := map[string]string{
		"{{.HostConfig.NanoCpus}}":                      "500000000",
		"{{.HostConfig.Memory}}":                        strconv.Itoa(256 << 20),
		"{{.HostConfig.PidsLimit}}":                     "512",
		"{{.HostConfig.Init}}":                          "true",
		"{{.HostConfig.CapDrop}}":                       "[ALL]",
		"{{.HostConfig.SecurityOpt}}":                   "[no-new-privileges]",
		"{{.HostConfig.RestartPolicy.Name}}":            "no",
		`{{index .Config.Labels "io.clawd.namespace"}}`: "alpha",
		`{{index .Config.Labels "io.clawd.managed"}}`:   "true",
		`{{index .Config.Labels "io.clawd.cluster"}}`:   d.cluster,
	}
	for format, want := range checks {
		if got := dockerInspect(t, format, id); got != want {
			t.Errorf("docker inspect %s = %q, want %q", format, got, want)
		}
	}
	if env := dockerInspect(t, "{{json .Config.Env}}", id); !strings.Contains(env, `"CLAWD_NAMESPACE=alpha"`) {
		t.Errorf("env %s lacks CLAWD_NAMESPACE=alpha", env)
	}

	// The caps, as the kernel enforces them.
	pid := dockerInspect(t, "{{.State.Pid}}", id)
	quota, period, memLimit := cgroupCaps(t, pid)
	if quota*1000/period != 500 {
		t.Errorf("cgroup cpu quota %d/%d, want 0.5 CPU", quota, period)
	}
	if memLimit != 256<<20 {
		t.Errorf("cgroup memory limit %d, want %d", memLimit, 256<<20)
	}

	// Tenants cannot reach each other: from inside alpha's network namespace,
	// beta's gateway does not answer.
	b := d.get("beta")
	out, err := exec.Command("nsenter", "-t", pid, "-n", "curl", "-s", "-m", "3", "http://"+b.Status.Address+"/healthz").CombinedOutput()
	if err == nil {
		t.Errorf("alpha's container reached beta's gateway at %s: %s", b.Status.Address, out)
	}
	// ...while its own gateway does, so the probe itself works.
	if out, err := exec.Command("nsenter", "-t", pid, "-n", "curl", "-s", "-m", "3", "http://"+a.Status.Address+"/healthz").CombinedOutput(); err != nil {
		t.Errorf("alpha cannot reach its own gateway: %v %s", err, out)
	}

	// namespace get shows usage read from the cgroup.
	var detail struct {
		Usage *struct {
			MemoryWorkingSet uint64 `json:"MemoryWorkingSet"`
		} `json:"usage"`
	}
	json.Unmarshal([]byte(d.mustClawd("namespace", "get", "alpha", "-o", "json")), &detail)
	if detail.Usage == nil || detail.Usage.MemoryWorkingSet == 0 {
		t.Errorf("namespace get shows no usage: %+v", detail.Usage)
	}
}

// cgroupCaps reads the CPU quota/period and memory limit of a process's
// cgroup, on cgroup v1 or v2.
func cgroupCaps(t *testing.T, pid string) (quota, period, mem int64) {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	num := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("parsing %q: %v", s, err)
		}
		return n
	}
	// Hybrid v1 hosts list a "0::" line too; only a unified host has v2 caps.
	_, err = os.Stat("/sys/fs/cgroup/cgroup.controllers")
	unified := err == nil
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "" && unified: // v2
			dir := filepath.Join("/sys/fs/cgroup", parts[2])
			f := strings.Fields(read(filepath.Join(dir, "cpu.max")))
			return num(f[0]), num(f[1]), num(read(filepath.Join(dir, "memory.max")))
		case strings.Contains(parts[1], "cpu,") || parts[1] == "cpu" || strings.HasSuffix(parts[1], ",cpu"):
			dir := filepath.Join("/sys/fs/cgroup", parts[1], parts[2])
			if _, err := os.Stat(dir); err != nil {
				dir = filepath.Join("/sys/fs/cgroup/cpu", parts[2])
			}
			quota = num(read(filepath.Join(dir, "cpu.cfs_quota_us")))
			period = num(read(filepath.Join(dir, "cpu.cfs_period_us")))
		case parts[1] == "memory":
			mem = num(read(filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes")))
		}
	}
	if period == 0 {
		t.Fatalf("no cpu cgroup found for pid %s", pid)
	}
	return quota, period, mem
}

func TestKillDuringConcurrentCreatesConverges(t *testing.T) {
	d := startDaemon(t)
	const n = 20
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Some of these die with the daemon; they are retried below.
			d.clawd("namespace", "create", fmt.Sprintf("crowd-%02d", i), "--quota-memory=64Mi", "--wait=false")
		}(i)
	}
	gateways := func() []string {
		return dockerLines(t, "ps", "-aq", "--filter", "label=io.clawd.cluster="+d.cluster, "--filter", "label=io.clawd.role=gateway")
	}
	d.kill9When(time.Minute, "the first gateway container", func() bool { return len(gateways()) > 0 })
	if got := len(gateways()); got >= n {
		t.Fatalf("all %d gateways existed when the daemon died: the kill interrupted no create", got)
	}
	wg.Wait()
	d.start()

	for i := 0; i < n; i++ {
		name := fmt.Sprintf("crowd-%02d", i)
		if _, errOut, err := d.clawd("namespace", "create", name, "--quota-memory=64Mi", "--wait=false"); err != nil && !strings.Contains(errOut, "already exists") {
			t.Fatalf("re-creating %s: %v %s", name, err, errOut)
		}
	}
	for i := 0; i < n; i++ {
		d.waitPhase(fmt.Sprintf("crowd-%02d", i), "Running", 2*time.Minute)
	}
	ids := dockerLines(t, "ps", "-aq", "--filter", "label=io.clawd.cluster="+d.cluster)
	if len(ids) != n {
		t.Fatalf("%d containers for %d namespaces: %v", len(ids), n, ids)
	}
	nets := dockerLines(t, "network", "ls", "-q", "--filter", "label=io.clawd.cluster="+d.cluster)
	if len(nets) != n {
		t.Fatalf("%d networks for %d namespaces", len(nets), n)
	}

	// The volume survives a restart of the gateway: the boot counter goes on.
	v := d.get("crowd-03")
	before := bootCount(t, v.Status.Address)
	if out, err := exec.Command("docker", "stop", "-t", "1", v.Status.ContainerID).CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v %s", err, out)
	}
	eventually(t, time.Minute, "crowd-03 restarted with a higher boot count", func() bool {
		v := d.get("crowd-03")
		return v.Status.Phase == "Running" && bootCount(t, v.Status.Address) == before+1
	})
}

func bootCount(t *testing.T, addr string) int {
	t.Helper()
	out, err := exec.Command("curl", "-s", "-m", "3", "http://"+addr+"/__standin").Output()
	if err != nil {
		return -1
	}
	var info standinInfo
	if json.Unmarshal(out, &info) != nil {
		return -1
	}
	return info.BootCount
}

func TestCrashLoopEndsFailedWithReason(t *testing.T) {
	img := variantImage(t, "crash", map[string]string{"STANDIN_CRASH": "1"})
	d := startDaemon(t, "--gateway.image="+img, "--supervisor.maxrestarts=3", "--supervisor.backoffmax=1s")
	_, errOut, err := d.clawd("namespace", "create", "crashy", "--timeout=60s")
	if err == nil || !strings.Contains(errOut, "failed") {
		t.Fatalf("create of a crash-looping gateway: err %v, stderr %q; want a failure", err, errOut)
	}
	v := d.waitPhase("crashy", "Failed", time.Minute)
	if !strings.Contains(v.Status.Reason, "exited with code 1") || v.Status.Restarts < 3 {
		t.Fatalf("reason %q restarts %d; want exit code 1 after 3 tries", v.Status.Reason, v.Status.Restarts)
	}
}

func TestOOMKilledGatewayIsNamedSo(t *testing.T) {
	img := variantImage(t, "oom", map[string]string{"STANDIN_MEMORY_GROWTH": "64"})
	d := startDaemon(t, "--gateway.image="+img, "--supervisor.maxrestarts=2", "--supervisor.backoffmax=1s")
	d.mustClawd("namespace", "create", "hungry", "--quota-memory=48Mi", "--wait=false")
	v := d.waitPhase("hungry", "Failed", 2*time.Minute)
	if !strings.HasPrefix(v.Status.Reason, "killed by the kernel: out of memory (limit 48Mi, ") {
		t.Fatalf("reason %q does not say the kernel killed it for memory, with its limit", v.Status.Reason)
	}
	_, body := d.scrape(d.adminToken())
	if !regexp.MustCompile(`(?m)^clawd_gateway_oom_kills_total\{namespace="hungry"\} [1-9]`).MatchString(body) {
		t.Errorf("/metrics does not count the OOM kills: %s", grepLines(body, "oom"))
	}
}

// grepLines is the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestDeleteRemovesEverythingOverManyCycles(t *testing.T) {
	d := startDaemon(t)
	label := "label=io.clawd.cluster=" + d.cluster

	d.mustClawd("namespace", "create", "keep", "--quota-memory=64Mi")
	d.mustClawd("namespace", "delete", "keep")
	if c := dockerLines(t, "ps", "-aq", "--filter", label); len(c) != 0 {
		t.Fatalf("containers left after delete: %v", c)
	}
	if v := dockerLines(t, "volume", "ls", "-q", "--filter", label); len(v) != 2 {
		t.Fatalf("delete without --purge must keep the 2 volumes, found %v", v)
	}
	d.mustClawd("namespace", "create", "keep", "--quota-memory=64Mi")
	d.mustClawd("namespace", "delete", "keep", "--purge")

	const cycles, par = 50, 5
	var wg sync.WaitGroup
	errs := make(chan string, cycles)
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < cycles; i += par {
				name := fmt.Sprintf("cycle-%02d", i)
				if _, e, err := d.clawd("namespace", "create", name, "--quota-memory=64Mi"); err != nil {
					errs <- fmt.Sprintf("create %s: %s", name, e)
					return
				}
				if _, e, err := d.clawd("namespace", "delete", name, "--purge"); err != nil {
					errs <- fmt.Sprintf("delete %s: %s", name, e)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	for _, kind := range [][]string{{"ps", "-aq"}, {"network", "ls", "-q"}, {"volume", "ls", "-q"}} {
		if left := dockerLines(t, append(kind, "--filter", label)...); len(left) != 0 {
			t.Errorf("docker %s: %d clawd objects left behind: %v", kind[0], len(left), left)
		}
	}
	if l := d.list(); len(l) != 0 {
		t.Errorf("namespaces left: %v", l)
	}
}

func TestTwoDaemonsOnOneEngineKeepApart(t *testing.T) {
	a := startDaemon(t)
	b := startDaemon(t)
	if a.cluster == b.cluster {
		t.Fatalf("two data dirs share cluster id %s", a.cluster)
	}
	a.mustClawd("namespace", "create", "shared-name", "--hostname=one.localhost")
	b.mustClawd("namespace", "create", "shared-name", "--hostname=one.localhost")
	ida, idb := a.get("shared-name").Status.ContainerID, b.get("shared-name").Status.ContainerID
	if ida == idb {
		t.Fatal("both daemons use the same container")
	}
	a.mustClawd("namespace", "delete", "shared-name", "--purge")
	if got := dockerInspect(t, "{{.State.Status}}", idb); got != "running" {
		t.Fatalf("b's container is %s after a deleted its namespace", got)
	}
	if n := len(dockerLines(t, "volume", "ls", "-q", "--filter", "label=io.clawd.cluster="+b.cluster)); n != 2 {
		t.Fatalf("b has %d volumes after a's purge, want 2", n)
	}
	if code, _ := b.viaRouter("one.localhost", "/healthz"); code != 200 {
		t.Fatalf("b's namespace answers %d after a's delete", code)
	}
}
