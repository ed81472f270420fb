package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/units"
)

// TestBenchWake prints, it asserts nothing: `make bench-wake`. Time from a
// request reaching the router to its first response byte, per phase the
// namespace is in, beside the same transition done by hand with the docker
// CLI and a health poll.
func TestBenchWake(t *testing.T) {
	if os.Getenv("CLAWD_BENCH") == "" {
		t.Skip("benchmark; run with CLAWD_BENCH=1 (make bench-wake)")
	}
	type run struct {
		title  string
		target benchTarget
		rounds int
	}
	var runs []run
	if img := os.Getenv("CLAWD_BENCH_GATEWAY_IMAGE"); img != "" {
		// The real gateway (make bench-wake-openclaw): cold starts of
		// 20 s and more, and about 900 MiB each, so three rounds and room.
		if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
			t.Fatalf("gateway image %s is not on the engine: make gateway-image builds it", img)
		}
		runs = append(runs, run{"OpenClaw gateway " + img, benchTarget{image: img, memory: "2Gi",
			peerEnv: []string{"OPENCLAW_GATEWAY_TOKEN=bench"},
			flags:   []string{"--supervisor.starttimeout=5m", "--router.waketimeout=5m"}}, 3})
	} else {
		for _, delay := range []string{"0s", "15s"} {
			img := variantImage(t, "delay-"+delay, map[string]string{"STANDIN_STARTUP_DELAY": delay})
			rounds := 5
			if delay != "0s" {
				rounds = 2
			}
			runs = append(runs, run{"stand-in gateway, startup delay " + delay,
				benchTarget{image: img, memory: "128Mi", flags: []string{"--router.waketimeout=120s"}}, rounds})
		}
	}
	var out bytes.Buffer
	for _, r := range runs {
		fmt.Fprintf(&out, "\n%s, %d rounds (ms: median / max)\n", r.title, r.rounds)
		fmt.Fprintf(&out, "%-34s %18s   %-40s %18s\n", "through clawd's router", "clawd", "by hand (docker CLI + poll)", "direct")
		benchWake(t, &out, r.target, r.rounds)
	}
	fmt.Print(out.String())
}

// benchTarget is the gateway a wake benchmark runs: its image, the memory
// cap of clawd's namespaces and of the peer, the peer's environment and
// the daemon's extra flags.
type benchTarget struct {
	image, memory  string
	peerEnv, flags []string
}

func benchWake(t *testing.T, out *bytes.Buffer, bt benchTarget, rounds int) {
	d := startDaemon(t, append([]string{"--gateway.image=" + bt.image, "--warmpool.size=1", "--memory.zram=auto"}, bt.flags...)...)
	d.mustClawd("namespace", "create", "bench", "--hostname=bench.localhost", "--quota-memory="+bt.memory, "--timeout=5m")
	peer := startPeer(t, bt)

	measure := func(prepare func(), host string) time.Duration {
		prepare()
		return ttfb(t, d.routerAddr, host, "/healthz")
	}
	row := func(name string, clawd []time.Duration, peerName string, direct []time.Duration) {
		fmt.Fprintf(out, "%-34s %18s   %-40s %18s\n", name, stats(clawd), peerName, stats(direct))
	}
	var running, paused, compressed, stopped, evicted, pRunning, pPaused, pStopped []time.Duration
	for i := 0; i < rounds; i++ {
		running = append(running, measure(func() {}, "bench.localhost"))
		pRunning = append(pRunning, peer.get(t))
		paused = append(paused, measure(func() { d.sleepTo("bench", "paused") }, "bench.localhost"))
		pPaused = append(pPaused, peer.transition(t, "pause", "unpause"))
		compressed = append(compressed, measure(func() { d.sleepTo("bench", "compressed") }, "bench.localhost"))
		stopped = append(stopped, measure(func() { d.sleepTo("bench", "stopped") }, "bench.localhost"))
		pStopped = append(pStopped, peer.transition(t, "stop", "start"))
		evicted = append(evicted, measure(func() { d.sleepTo("bench", "evicted") }, "bench.localhost"))
	}
	row("Running", running, "direct GET", pRunning)
	row("Paused", paused, "docker pause; unpause + GET", pPaused)
	row("Compressed (zram)", compressed, "", nil)
	row("Stopped", stopped, "docker stop; start + poll", pStopped)
	row("Evicted", evicted, "", nil)

	var fresh, pooled, pRun []time.Duration
	for i := 0; i < rounds; i++ {
		name := fmt.Sprintf("fresh-%d", i)
		fresh = append(fresh, createAndGet(t, d, name, bt.memory, false))
		eventually(t, 5*time.Minute, "a ready spare", func() bool { return d.poolReady() >= 1 })
		name = fmt.Sprintf("pooled-%d", i)
		pooled = append(pooled, createAndGet(t, d, name, bt.memory, true))
		pRun = append(pRun, peer.fresh(t, bt))
	}
	row("new namespace, cold", fresh, "docker run + poll", pRun)
	row("new namespace, warm pool", pooled, "", nil)

	// 100 concurrent requests to a Paused namespace: one unpause.
	var all []time.Duration
	for i := 0; i < rounds; i++ {
		d.sleepTo("bench", "paused")
		var mu sync.Mutex
		var wg sync.WaitGroup
		for j := 0; j < 100; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := ttfb(t, d.routerAddr, "bench.localhost", "/healthz")
				mu.Lock()
				all = append(all, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	fmt.Fprintf(out, "%-34s p50 %dms p99 %dms (%d requests)\n", "100 concurrent → Paused", all[len(all)/2].Milliseconds(), all[len(all)*99/100].Milliseconds(), len(all))
}

// sleepTo puts a namespace to sleep and waits until it is down.
func (d *daemon) sleepTo(name, to string) {
	d.mustClawd("namespace", "sleep", name, "--to="+to)
	want := map[string]string{"paused": "Paused", "compressed": "Compressed", "stopped": "Stopped", "evicted": "Evicted"}[to]
	d.waitPhase(name, want, time.Minute)
}

// createAndGet creates a namespace and at once sends a request the router
// holds until the gateway is ready: the time a tenant's first call takes.
func createAndGet(t *testing.T, d *daemon, name, memory string, warm bool) time.Duration {
	start := time.Now()
	d.mustClawd("namespace", "create", name, "--hostname="+name+".localhost", "--quota-memory="+memory, "--wait=false", fmt.Sprintf("--warmup-on-create=%t", warm))
	ttfb(t, d.routerAddr, name+".localhost", "/healthz")
	took := time.Since(start)
	d.mustClawd("namespace", "delete", name, "--purge")
	return took
}

var benchClient = &http.Client{Timeout: 5 * time.Minute}

func ttfb(t testing.TB, addr, host, path string) time.Duration {
	var first time.Time
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = host
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}))
	start := time.Now()
	resp, err := benchClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", path, host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s (Host %s): %d", path, host, resp.StatusCode)
	}
	return first.Sub(start)
}

// peer is a gateway container run by hand, the way a script would.
type peer struct{ name, addr string }

func startPeer(t *testing.T, bt benchTarget) *peer {
	img := bt.image
	p := &peer{name: fmt.Sprintf("clawd-bench-wake-%d-%s", os.Getpid(), strings.ReplaceAll(img[strings.LastIndex(img, ":")+1:], ".", "-"))}
	mustRun(t, "docker", peerRunArgs(t, p.name, bt)...)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", p.name).Run() })
	p.addr = dockerInspect(t, "{{.NetworkSettings.IPAddress}}", p.name) + ":18789"
	p.poll(t)
	return p
}

// peerRunArgs are the docker run arguments a script would use for the
// gateway: the same caps and hardening as clawd's.
func peerRunArgs(t testing.TB, name string, bt benchTarget) []string {
	memory, err := units.ParseBytes(bt.memory)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "-d", "--name", name, fmt.Sprintf("--memory=%d", memory),
		"--init", "--cap-drop=ALL", "--security-opt=no-new-privileges"}
	for _, e := range bt.peerEnv {
		args = append(args, "-e", e)
	}
	return append(args, bt.image)
}

func (p *peer) poll(t testing.TB) {
	waitOK(t, func() bool {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (p *peer) get(t testing.TB) time.Duration {
	start := time.Now()
	p.poll(t)
	return time.Since(start)
}

// transition runs `docker <down>`, then times `docker <up>` plus polling
// until the gateway is ready.
func (p *peer) transition(t testing.TB, down, up string) time.Duration {
	mustRun(t, "docker", down, p.name)
	start := time.Now()
	mustRun(t, "docker", up, p.name)
	p.addr = dockerInspect(t, "{{.NetworkSettings.IPAddress}}", p.name) + ":18789"
	p.poll(t)
	return time.Since(start)
}

func (p *peer) fresh(t testing.TB, bt benchTarget) time.Duration {
	name := p.name + "-fresh"
	start := time.Now()
	mustRun(t, "docker", peerRunArgs(t, name, bt)...)
	q := &peer{name: name, addr: dockerInspect(t, "{{.NetworkSettings.IPAddress}}", name) + ":18789"}
	q.poll(t)
	took := time.Since(start)
	exec.Command("docker", "rm", "-f", name).Run()
	return took
}

func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("%.1f / %.1f", float64(s[len(s)/2].Microseconds())/1000, float64(s[len(s)-1].Microseconds())/1000)
}
