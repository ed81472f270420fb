package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBenchCreate prints figures, it asserts none: `make bench-create`.
// It times `namespace create` → first 200 through the router, side by side
// with the same work done by hand with the docker CLI, and reads the
// daemon's RSS with 100 namespaces.
func TestBenchCreate(t *testing.T) {
	if os.Getenv("CLAWD_BENCH") == "" {
		t.Skip("benchmark; run with CLAWD_BENCH=1 (make bench-create)")
	}
	d := startDaemon(t)
	const rounds = 10
	var viaClawd, viaDocker []time.Duration
	for i := 0; i < rounds; i++ {
		name := fmt.Sprintf("bench-%02d", i)
		host := name + ".localhost"
		start := time.Now()
		d.mustClawd("namespace", "create", name, "--quota-cpu=1", "--quota-memory=128Mi", "--hostname="+host, "--wait=false")
		waitOK(t, func() bool {
			req, _ := http.NewRequest("GET", "http://"+d.routerAddr+"/healthz", nil)
			req.Host = host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
		viaClawd = append(viaClawd, time.Since(start))

		// The peer: what an operator's script does with the docker CLI.
		peer := fmt.Sprintf("clawd-bench-peer-%d-%d", os.Getpid(), i)
		start = time.Now()
		mustRun(t, "docker", "network", "create", "--label", "clawd-bench=1", peer)
		mustRun(t, "docker", "volume", "create", peer+"-data")
		mustRun(t, "docker", "run", "-d", "--name", peer, "--network", peer, "--label", "clawd-bench=1",
			"--cpus=1", "--memory=128m", "--pids-limit=512", "--init", "--cap-drop=ALL", "--security-opt=no-new-privileges",
			"-v", peer+"-data:/home/node/.openclaw", "-e", "CLAWD_NAMESPACE="+peer, standinImg)
		ip := dockerInspect(t, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", peer)
		waitOK(t, func() bool {
			resp, err := http.Get("http://" + ip + ":18789/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
		viaDocker = append(viaDocker, time.Since(start))
		exec.Command("docker", "rm", "-f", peer).Run()
		exec.Command("docker", "network", "rm", peer).Run()
		exec.Command("docker", "volume", "rm", peer+"-data").Run()
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "\nnamespace create → first 200 through the router (stand-in gateway, %d rounds)\n", rounds)
	fmt.Fprintf(&b, "%-44s %8s %8s %8s %8s\n", "path", "min", "median", "p90", "max")
	row := func(name string, ds []time.Duration) {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		fmt.Fprintf(&b, "%-44s %8s %8s %8s %8s\n", name, ms(ds[0]), ms(ds[len(ds)/2]), ms(ds[len(ds)*9/10]), ms(ds[len(ds)-1]))
	}
	row("clawd namespace create + router", viaClawd)
	row("docker CLI: network+volume+run, direct GET", viaDocker)

	// RSS with 100 namespaces.
	rssBefore := rssKiB(t, d.cmd.Process.Pid)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d.clawd("namespace", "create", fmt.Sprintf("rss-%03d", i), "--quota-memory=32Mi", "--hostname", fmt.Sprintf("rss-%03d.localhost", i), "--wait=false")
		}(i)
	}
	wg.Wait()
	eventually(t, 10*time.Minute, "100 namespaces Running", func() bool {
		running := 0
		for _, ns := range d.list() {
			if ns.Status.Phase == "Running" {
				running++
			}
		}
		return running >= 100+rounds
	})
	time.Sleep(5 * time.Second)
	fmt.Fprintf(&b, "\nclawd daemon RSS: %d MiB with %d namespaces (before the 100: %d MiB)\n", rssKiB(t, d.cmd.Process.Pid)/1024, 100+rounds, rssBefore/1024)
	fmt.Print(b.String())
}

func waitOK(t testing.TB, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("no 200 within 2 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

func rssKiB(t testing.TB, pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}
