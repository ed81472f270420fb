package integration

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchDensity prints, it asserts nothing: `make bench-density`. On the
// real OpenClaw gateway, beside each other in one run: request → first
// byte and WebSocket hello-ok from Paused, Compressed and Stopped; what an
// idle gateway holds Paused and Compressed; and from those, how many
// gateways this host keeps answering in under a second with the
// Compressed tier and without it. The density is measured: the host's
// used memory (MemTotal − MemAvailable, which counts the zram pool) with
// CLAWD_BENCH_GATEWAYS real gateways all Paused, then all Compressed, less
// what it used before they were created, divided by their number; shared
// page cache of the image's files is so charged once, spread over them.
func TestBenchDensity(t *testing.T) {
	if os.Getenv("CLAWD_BENCH") == "" {
		t.Skip("benchmark; run with CLAWD_BENCH=1 (make bench-density)")
	}
	needZram(t)
	img := cmp.Or(os.Getenv("CLAWD_BENCH_GATEWAY_IMAGE"), "clawd-gateway:2026.9.6")
	if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
		t.Fatalf("gateway image %s is not on the engine: make gateway-image builds it", img)
	}
	gateways := envInt("CLAWD_BENCH_GATEWAYS", 2)
	rounds := envInt("CLAWD_BENCH_ROUNDS", 10)
	// CLAWD_BENCH_FLAGS: more daemon flags, e.g. --memory.squeezekeep=32Mi.
	d := startDaemon(t, append(append(e2eGatewayFlags(img), "--memory.zram=auto"), strings.Fields(os.Getenv("CLAWD_BENCH_FLAGS"))...)...)
	used0 := hostUsed(t)
	names := make([]string, gateways)
	// One after another (a boot takes a core for ~20 s). Each gateway's
	// first connection does start-up work (sidecars, plugins): done once
	// before anything is measured.
	for i := range names {
		names[i] = fmt.Sprintf("dense-%d", i)
		d.mustClawd("namespace", "create", names[i], "--hostname="+names[i]+".localhost", "--quota-memory=2Gi", "--timeout=10m")
		ocDialRetry(t, d, names[i]+".localhost", nil, 8*time.Minute).close()
	}
	time.Sleep(20 * time.Second) // let the start-up work settle

	var out bytes.Buffer
	fmt.Fprintf(&out, "\nOpenClaw gateway %s: %d gateways, %d rounds per warm tier (ms: median / p99 / max)\n", img, gateways, rounds)

	// Memory: every gateway idle and Paused, then every one Compressed; a
	// first request to each only once all are.
	var pausedB, residentB, compressedB, swappedB, squeezeT []float64
	var firstWake []time.Duration
	for _, n := range names {
		d.sleepTo(n, "paused")
		r, _ := cgroupMemory(t, d.memory(n).Status.ContainerID)
		pausedB = append(pausedB, float64(r))
	}
	time.Sleep(5 * time.Second)
	usedPaused := hostUsed(t)
	for _, n := range names {
		start := time.Now()
		d.sleepTo(n, "compressed")
		squeezeT = append(squeezeT, float64(time.Since(start).Milliseconds()))
		m := d.memory(n)
		r, sw := cgroupMemory(t, m.Status.ContainerID)
		residentB = append(residentB, float64(r))
		swappedB = append(swappedB, float64(sw))
		compressedB = append(compressedB, float64(m.Status.CompressedBytes))
	}
	time.Sleep(5 * time.Second)
	usedCompressed := hostUsed(t)
	pool := zramPool(t, d)
	// The wake a tenant meets after a long sleep: the first since the
	// gateway's first squeeze.
	for _, n := range names {
		firstWake = append(firstWake, ttfb(t, d.routerAddr, n+".localhost", "/healthz"))
	}
	paused, resident, compressed := mean(pausedB), mean(residentB), mean(compressedB)
	fmt.Fprintf(&out, "%-44s %8.0f MiB\n", "idle gateway, Paused (its cgroup)", paused/(1<<20))
	fmt.Fprintf(&out, "%-44s %8.0f MiB resident + %.0f MiB in zram (%.0f MiB swapped) = %.2fx Paused; squeeze took %.1f s\n",
		"idle gateway, Compressed (its cgroup)", resident/(1<<20), compressed/(1<<20), mean(swappedB)/(1<<20), (resident+compressed)/paused, mean(squeezeT)/1000)
	fmt.Fprintf(&out, "%-44s %s ms (median / p99 / max, one per gateway)\n", "first request after the first squeeze", pct(firstWake))
	if pool != "" {
		fmt.Fprintf(&out, "%-44s %s\n", "zram pool", pool)
	}
	n := float64(len(names))
	perPaused, perCompressed := float64(usedPaused-used0)/n, float64(usedCompressed-used0)/n
	fmt.Fprintf(&out, "%-44s %8.0f MiB Paused, %.0f MiB Compressed = %.2fx (host MemTotal − MemAvailable, zram pool included, less before; %d gateways)\n",
		"host memory per gateway, measured", perPaused/(1<<20), perCompressed/(1<<20), perCompressed/perPaused, len(names))
	fmt.Print(out.String()) // the memory figures, even if a wake below fails the run
	out.Reset()

	// Wakes: the first gateway, each warm tier in turn, request and
	// WebSocket; the cold tier twice (20 s each).
	host := names[0] + ".localhost"
	httpWake := func(tier string) time.Duration {
		d.sleepTo(names[0], tier)
		return ttfb(t, d.routerAddr, host, "/healthz")
	}
	wsWake := func(tier string) time.Duration {
		d.sleepTo(names[0], tier)
		start := time.Now()
		c := ocDialRetry(t, d, host, nil, 8*time.Minute)
		took := time.Since(start)
		c.close()
		return took
	}
	var wokeResident []float64
	fmt.Fprintf(&out, "%-44s %24s %24s\n", "", "request → first byte", "WebSocket → hello-ok")
	for _, tier := range strings.Split(cmp.Or(os.Getenv("CLAWD_BENCH_TIERS"), "paused,compressed,stopped"), ",") {
		n := rounds
		if tier == "stopped" {
			n = 2
		}
		var h, w []time.Duration
		for range n {
			h = append(h, httpWake(tier))
			if tier == "compressed" {
				r, _ := cgroupMemory(t, d.memory(names[0]).Status.ContainerID)
				wokeResident = append(wokeResident, float64(r))
			}
			w = append(w, wsWake(tier))
		}
		fmt.Fprintf(&out, "%-44s %24s %24s\n", "from "+strings.ToUpper(tier[:1])+tier[1:], pct(h), pct(w))
	}
	fmt.Fprintf(&out, "%-44s %8.0f MiB\n", "resident after a request woke it Compressed", mean(wokeResident)/(1<<20))

	// Density, from the host's memory per gateway measured above: every
	// gateway answering in under a second is Paused or, with the tier,
	// Compressed (whether each first wake from Compressed was under a
	// second is the line "first request after the first squeeze").
	budget := float64(hostMemory(t)) * 0.9
	without, with := int(budget/perPaused), int(budget/perCompressed)
	fmt.Fprintf(&out, "%-44s %d without the tier (Paused), %d with it (Compressed): %.1fx — 90%% of %.0f GiB over the measured host memory per gateway\n",
		"gateways answering in < 1 s", without, with, float64(with)/float64(max(without, 1)), float64(hostMemory(t))/(1<<30))
	fmt.Print(out.String())
	// A wake slower than the tier explains shows here: a gateway that
	// exited or was not ready in time.
	if l := grepLines(d.log(), "gateway exited"); l != "" {
		t.Logf("gateway exits during the run:\n%s", l)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// pct is median / p99 / max in ms; with fewer than 100 samples the p99 is
// the second largest at most.
func pct(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return fmt.Sprintf("%.0f / %.0f / %.0f", ms(s[len(s)/2]), ms(s[min(len(s)-1, len(s)*99/100)]), ms(s[len(s)-1]))
}

func hostMemory(t *testing.T) int64 {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no MemTotal")
	return 0
}

// hostUsed is the host's memory in use: MemTotal − MemAvailable. zram's
// pool is kernel memory, so it is in it.
func hostUsed(t *testing.T) int64 {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	var total, avail int64
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "MemTotal:":
			total = kb << 10
		case "MemAvailable:":
			avail = kb << 10
		}
	}
	if total == 0 || avail == 0 {
		t.Fatal("no MemTotal or MemAvailable in /proc/meminfo")
	}
	return total - avail
}

// zramPool is clawd status's view of the pool, as one line.
func zramPool(t *testing.T, d *daemon) string {
	var st struct {
		Zram *struct {
			Device, Algorithm string
			Pool              struct {
				Original   int64 `json:"originalBytes"`
				Compressed int64 `json:"compressedBytes"`
				Used       int64 `json:"usedBytes"`
			} `json:"pool"`
		} `json:"zram"`
	}
	if err := json.Unmarshal([]byte(d.mustClawd("status", "-o", "json")), &st); err != nil || st.Zram == nil {
		return ""
	}
	p := st.Zram.Pool
	return fmt.Sprintf("%s %s: %d MiB stored in %d MiB (%.1fx), pool uses %d MiB", st.Zram.Device, st.Zram.Algorithm,
		p.Original>>20, p.Compressed>>20, float64(p.Original)/float64(max(p.Compressed, 1)), p.Used>>20)
}
