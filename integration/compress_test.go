package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/clawd-dev/clawd/internal/testenv"
)

// needZram skips (fails under CLAWD_REQUIRE_DOCKER=1) where clawd cannot
// make a zram device: not root, or a kernel without zram.
func needZram(t *testing.T) {
	t.Helper()
	needDocker(t)
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the Compressed tier needs root to set up zram")
	}
	if _, err := os.Stat("/sys/class/zram-control/hot_add"); err != nil {
		testenv.Missing(t, "the kernel has no zram-control: %v", err)
	}
}

// holdingImage is the stand-in holding mib MiB of compressible memory.
func holdingImage(t *testing.T, mib int) string {
	return variantImage(t, fmt.Sprintf("hold-%d", mib), map[string]string{"STANDIN_MEMORY_HOLD": strconv.Itoa(mib)})
}

// wsSession opens a gateway WebSocket session through the router, up to
// hello-ok.
func wsSession(t *testing.T, d *daemon, host string) *websocket.Conn {
	t.Helper()
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	conn, resp, err := dialer.Dial("ws://"+d.routerAddr+"/", http.Header{"Host": {host}})
	if err != nil {
		t.Fatalf("websocket to %s through the router: %v (%+v)", host, err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var challenge struct {
		Event string `json:"event"`
	}
	if err := conn.ReadJSON(&challenge); err != nil || challenge.Event != "connect.challenge" {
		t.Fatalf("first frame %+v, %v; want connect.challenge", challenge, err)
	}
	if err := conn.WriteJSON(map[string]any{"type": "req", "id": "c", "method": "connect", "params": map[string]any{"role": "operator"}}); err != nil {
		t.Fatal(err)
	}
	var hello struct {
		OK      bool `json:"ok"`
		Payload struct {
			Type string `json:"type"`
		} `json:"payload"`
	}
	if err := conn.ReadJSON(&hello); err != nil || !hello.OK || hello.Payload.Type != "hello-ok" {
		t.Fatalf("connect answered %+v, %v; want hello-ok", hello, err)
	}
	return conn
}

// wsPing sends a ping request on an open session and wants its pong.
func wsPing(t *testing.T, conn *websocket.Conn, id string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := conn.WriteJSON(map[string]any{"type": "req", "id": id, "method": "ping"}); err != nil {
		t.Fatalf("ping on the session: %v", err)
	}
	var res struct {
		ID      string `json:"id"`
		OK      bool   `json:"ok"`
		Payload struct {
			Pong bool `json:"pong"`
		} `json:"payload"`
	}
	if err := conn.ReadJSON(&res); err != nil || !res.OK || res.ID != id || !res.Payload.Pong {
		t.Fatalf("ping answered %+v, %v; want pong", res, err)
	}
}

// cgroupMemory reads a container's resident and swapped bytes straight
// from its memory cgroup (v1: memory.usage_in_bytes and memory.stat's
// total_swap; v2: memory.current and memory.swap.current): resident is all
// the RAM charged to it, kernel memory included.
func cgroupMemory(t *testing.T, container string) (resident, swapped int64) {
	t.Helper()
	pid := dockerInspect(t, "{{.State.Pid}}", container)
	raw, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case strings.Contains(","+parts[1]+",", ",memory,"):
			dir := filepath.Join("/sys/fs/cgroup/memory", parts[2])
			return readNum(t, filepath.Join(dir, "memory.usage_in_bytes")), readKV(t, filepath.Join(dir, "memory.stat"))["total_swap"]
		case parts[0] == "0" && parts[1] == "" && fileExists(filepath.Join("/sys/fs/cgroup", parts[2], "memory.current")):
			dir := filepath.Join("/sys/fs/cgroup", parts[2])
			return readNum(t, filepath.Join(dir, "memory.current")), readNum(t, filepath.Join(dir, "memory.swap.current"))
		}
	}
	t.Fatalf("no memory cgroup for %s in %s", container, raw)
	return 0, 0
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func readNum(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readKV(t *testing.T, path string) map[string]int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok {
			out[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return out
}

// nsMemory is namespace get's view of a gateway's memory.
type nsMemory struct {
	Status struct {
		Phase           string `json:"phase"`
		ContainerID     string `json:"containerId"`
		ResidentBytes   int64  `json:"residentBytes"`
		CompressedBytes int64  `json:"compressedBytes"`
	} `json:"status"`
	Memory *struct {
		ResidentBytes   int64 `json:"residentBytes"`
		SwappedBytes    int64 `json:"swappedBytes"`
		CompressedBytes int64 `json:"compressedBytes"`
	} `json:"memory"`
}

func (d *daemon) memory(name string) nsMemory {
	d.t.Helper()
	var v nsMemory
	if err := json.Unmarshal([]byte(d.mustClawd("namespace", "get", name, "-o", "json")), &v); err != nil {
		d.t.Fatal(err)
	}
	return v
}

// A gateway squeezed into zram and woken keeps its state: a WebSocket
// session opened before the squeeze answers after the wake, on the same
// boot. Its running neighbour never swaps meanwhile.
func TestCompressedKeepsTheSessionAndTheNeighbourNeverSwaps(t *testing.T) {
	needZram(t)
	img := holdingImage(t, 96)
	d := startDaemon(t, "--gateway.image="+img, "--memory.zram=512Mi", "--memory.squeezekeep=16Mi", "--supervisor.stoptimeout=1s")
	d.mustClawd("namespace", "create", "squeezy", "--hostname=squeezy.localhost", "--quota-memory=256Mi")
	d.mustClawd("namespace", "create", "neighbour", "--hostname=neighbour.localhost", "--quota-memory=256Mi")
	boot := bootCount(t, d.get("squeezy").Status.Address)
	conn := wsSession(t, d, "squeezy.localhost")
	wsPing(t, conn, "before")

	d.mustClawd("namespace", "sleep", "squeezy", "--to=compressed")
	d.waitPhase("squeezy", "Compressed", time.Minute)
	m := d.memory("squeezy")
	resident, swapped := cgroupMemory(t, m.Status.ContainerID)
	t.Logf("FIGURE stand-in holding 96 MiB, Compressed: %d MiB resident, %d MiB swapped, %d MiB compressed (status)",
		resident>>20, swapped>>20, m.Status.CompressedBytes>>20)
	if swapped < 64<<20 {
		t.Errorf("only %d MiB of the gateway's 96 MiB went to swap", swapped>>20)
	}
	if resident > 48<<20 {
		t.Errorf("%d MiB still resident after the squeeze", resident>>20)
	}
	if m.Status.CompressedBytes <= 0 || m.Status.CompressedBytes >= swapped {
		t.Errorf("status says %d bytes compressed for %d swapped", m.Status.CompressedBytes, swapped)
	}
	if m.Memory == nil || m.Memory.SwappedBytes < 64<<20 {
		t.Errorf("namespace get shows no swapped memory: %+v", m.Memory)
	}
	nb := d.memory("neighbour")
	if _, nswap := cgroupMemory(t, nb.Status.ContainerID); nswap != 0 {
		t.Errorf("the running neighbour has %d bytes in swap", nswap)
	}

	status := d.mustClawd("status")
	if !strings.Contains(status, "Compressed tier:") || !strings.Contains(status, "squeezy:") {
		t.Errorf("clawd status does not show the tier and the Compressed namespace:\n%s", status)
	}
	_, metrics := d.scrape(d.adminToken())
	for _, want := range []string{`clawd_compressed_zram_bytes{namespace="squeezy"}`, `clawd_compressed_resident_bytes{namespace="squeezy"}`, "clawd_compressed_pool_original_bytes "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}

	start := time.Now()
	if code, _ := d.viaRouter("squeezy.localhost", "/healthz"); code != 200 {
		t.Fatalf("request to the Compressed namespace: %d", code)
	}
	t.Logf("FIGURE stand-in Compressed → first answer: %s", time.Since(start).Round(time.Millisecond))
	wsPing(t, conn, "after")
	if got := bootCount(t, d.get("squeezy").Status.Address); got != boot {
		t.Errorf("boot count %d after the wake, was %d: the gateway restarted", got, boot)
	}
	if _, nswap := cgroupMemory(t, nb.Status.ContainerID); nswap != 0 {
		t.Errorf("the running neighbour has %d bytes in swap", nswap)
	}
}

// Under memory pressure a Paused namespace is squeezed, not stopped, and
// the budget charges it what it holds compressed: a third gateway fits
// where, counted at its cap, it would not. A restart of clawd finds the
// Compressed namespace as it was, and a request wakes it.
func TestPressureSqueezesPausedAndRestartKeepsCompressed(t *testing.T) {
	needZram(t)
	img := holdingImage(t, 96)
	d := startDaemon(t, "--gateway.image="+img, "--memory.zram=512Mi", "--memory.squeezekeep=16Mi", "--runtime.memorybudget=640Mi")
	d.mustClawd("namespace", "create", "alpha", "--hostname=alpha.localhost", "--quota-memory=256Mi")
	boot := bootCount(t, d.get("alpha").Status.Address)
	d.mustClawd("namespace", "sleep", "alpha", "--to=paused")
	d.waitPhase("alpha", "Paused", time.Minute)
	d.mustClawd("namespace", "create", "beta", "--hostname=beta.localhost", "--quota-memory=256Mi")
	// 256 + 256 held: gamma's 256 does not fit in 640 unless alpha goes
	// down; squeezed, alpha is charged a fraction of its cap.
	d.mustClawd("namespace", "create", "gamma", "--hostname=gamma.localhost", "--quota-memory=256Mi", "--timeout=2m")
	a := d.memory("alpha")
	if a.Status.Phase != "Compressed" {
		t.Fatalf("under pressure alpha went %s, want Compressed", a.Status.Phase)
	}
	if got := a.Status.ResidentBytes + a.Status.CompressedBytes; got <= 0 || got > 128<<20 {
		t.Errorf("alpha is charged %d bytes Compressed", got)
	}

	d.kill9()
	d.start()
	if p := dockerInspect(t, "{{.State.Status}}", a.Status.ContainerID); p != "paused" {
		t.Fatalf("after a restart alpha's container is %s", p)
	}
	d.waitPhase("alpha", "Compressed", 30*time.Second)
	if code, _ := d.viaRouter("alpha.localhost", "/healthz"); code != 200 {
		t.Fatalf("request to the Compressed namespace after a restart: %d", code)
	}
	if got := bootCount(t, d.get("alpha").Status.Address); got != boot {
		t.Errorf("boot count %d after the wake, was %d", got, boot)
	}
}
