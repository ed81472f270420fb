package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestIdleTiersAndWakeOnRequest(t *testing.T) {
	d := startDaemon(t, "--reaper.interval=300ms")
	d.mustClawd("namespace", "create", "sleepy", "--hostname=sleepy.localhost", "--quota-memory=64Mi")
	d.mustClawd("config", "set", "namespaces.sleepy.idle.pauseAfter", "2s")
	d.mustClawd("config", "set", "namespaces.sleepy.autoCleanup.after", "5s")
	d.mustClawd("config", "set", "namespaces.sleepy.idle.evictAfter", "8s")

	for _, phase := range []string{"Paused", "Stopped", "Evicted"} {
		d.waitPhase("sleepy", phase, 30*time.Second)
		code, body := d.viaRouter("sleepy.localhost", "/__standin")
		var info standinInfo
		if code != 200 || json.Unmarshal(body, &info) != nil || info.Namespace != "sleepy" {
			t.Fatalf("request to a %s namespace: %d %s", phase, code, body)
		}
		if v := d.get("sleepy"); v.Status.Phase != "Running" {
			t.Fatalf("after a request to a %s namespace it is %s", phase, v.Status.Phase)
		}
	}
	// The volume outlived eviction: the boot counter went on.
	_, body := d.viaRouter("sleepy.localhost", "/__standin")
	var info standinInfo
	json.Unmarshal(body, &info)
	if info.BootCount < 3 {
		t.Fatalf("boot count %d after stop and evict; the state volume was lost", info.BootCount)
	}
}

func TestOpenWebSocketKeepsNamespaceAwake(t *testing.T) {
	d := startDaemon(t, "--reaper.interval=300ms")
	d.mustClawd("namespace", "create", "chatty", "--hostname=chatty.localhost")
	d.mustClawd("config", "set", "namespaces.chatty.idle.pauseAfter", "1s")
	d.mustClawd("namespace", "create", "steady", "--hostname=steady.localhost", "--min-instances=1")
	d.mustClawd("config", "set", "namespaces.steady.idle.pauseAfter", "1s")

	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, _, err := dialer.Dial("ws://"+d.routerAddr+"/", http.Header{"Host": {"chatty.localhost"}})
	if err != nil {
		t.Fatalf("websocket through the router: %v", err)
	}
	defer conn.Close()
	var challenge map[string]any
	if err := conn.ReadJSON(&challenge); err != nil || challenge["event"] != "connect.challenge" {
		t.Fatalf("no connect.challenge through the router: %v %v", challenge, err)
	}
	time.Sleep(4 * time.Second)
	if p := d.get("chatty").Status.Phase; p != "Running" {
		t.Fatalf("namespace with an open WebSocket went %s", p)
	}
	if p := d.get("steady").Status.Phase; p != "Running" {
		t.Fatalf("minInstances=1 namespace went %s", p)
	}
	_, errOut, err := d.clawd("namespace", "sleep", "steady")
	if err == nil || !strings.Contains(errOut, "minInstances") {
		t.Fatalf("sleep of a minInstances=1 namespace: err %v stderr %q", err, errOut)
	}
	conn.Close()
	d.waitPhase("chatty", "Paused", 20*time.Second)
}

func TestConcurrentRequestsToStoppedNamespaceStartItOnce(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "crowded", "--hostname=crowded.localhost")
	before := bootCount(t, d.get("crowded").Status.Address)
	d.mustClawd("namespace", "sleep", "crowded", "--to=stopped")
	d.waitPhase("crowded", "Stopped", 30*time.Second)

	const n = 200
	codes := make(chan int, n)
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n}, Timeout: 90 * time.Second}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "http://"+d.routerAddr+"/__standin", nil)
			req.Host = "crowded.localhost"
			resp, err := client.Do(req)
			if err != nil {
				codes <- -1
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	bad := map[int]int{}
	for c := range codes {
		if c != 200 {
			bad[c]++
		}
	}
	if len(bad) > 0 {
		t.Fatalf("not all 200: %v", bad)
	}
	if after := bootCount(t, d.get("crowded").Status.Address); after != before+1 {
		t.Fatalf("boot count went %d → %d; want exactly one start", before, after)
	}
}

func TestWakeTimeoutAnswers503(t *testing.T) {
	img := variantImage(t, "slow", map[string]string{"STANDIN_STARTUP_DELAY": "30s"})
	d := startDaemon(t, "--gateway.image="+img, "--router.waketimeout=2s")
	d.mustClawd("namespace", "create", "slow", "--hostname=slow.localhost", "--wait=false")
	req, _ := http.NewRequest("GET", "http://"+d.routerAddr+"/healthz", nil)
	req.Host = "slow.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Status    int    `json:"status"`
		Namespace string `json:"namespace"`
	}
	json.NewDecoder(resp.Body).Decode(&p)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || p.Namespace != "slow" {
		t.Fatalf("got %d Retry-After %q body %+v; want 503 problem with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), p)
	}
}

func TestLeakReaperRemovesOnlyThisClustersOrphans(t *testing.T) {
	d := startDaemon(t, "--reaper.grace=2s", "--reaper.leakinterval=500ms")
	dry := startDaemon(t, "--reaper.grace=1s", "--reaper.leakinterval=500ms", "--reaper.dryrun=true")
	run := func(name, cluster string) string {
		out, err := exec.Command("docker", "create", "--name", name,
			"--label", "io.clawd.managed=true", "--label", "io.clawd.cluster="+cluster,
			"--label", "io.clawd.namespace=ghost", "--label", "io.clawd.role=gateway", standinImg).CombinedOutput()
		if err != nil {
			t.Fatalf("docker create: %v %s", err, out)
		}
		id := strings.TrimSpace(string(out))
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
		return id
	}
	suffix := d.cluster[:8]
	ours := run("orphan-ours-"+suffix, d.cluster)
	foreign := run("orphan-foreign-"+suffix, "someone-else")
	unlabeled, err := exec.Command("docker", "create", "--name", "orphan-plain-"+suffix, standinImg).Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", strings.TrimSpace(string(unlabeled))).Run() })
	dryOrphan := run("orphan-dry-"+suffix, dry.cluster)

	// A namespace's own container removed behind clawd's back comes back.
	d.mustClawd("namespace", "create", "alive")
	old := d.get("alive").Status.ContainerID
	exec.Command("docker", "rm", "-f", old).Run()

	eventually(t, 30*time.Second, "the orphan of this cluster is removed", func() bool {
		return exec.Command("docker", "inspect", ours).Run() != nil
	})
	eventually(t, 60*time.Second, "the deleted gateway is recreated", func() bool {
		v := d.get("alive")
		return v.Status.Phase == "Running" && v.Status.ContainerID != old
	})
	time.Sleep(3 * time.Second) // well past both grace periods
	for what, id := range map[string]string{"another cluster's": foreign, "an unlabeled": strings.TrimSpace(string(unlabeled)), "a dry run's": dryOrphan} {
		if exec.Command("docker", "inspect", id).Run() != nil {
			t.Errorf("%s container was removed", what)
		}
	}
	if !strings.Contains(dry.log(), "would remove orphaned object") {
		t.Errorf("dry run did not log what it would remove")
	}
}

// A request sent right after `namespace sleep` is answered, and one open
// while the sleep begins finishes: the gateway is never frozen under a
// request the router has sent it (the router's gate shuts before a pause,
// and a pause waits for open requests to end).
func TestRequestsAroundASleepAreAnswered(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "drowsy", "--hostname=drowsy.localhost")
	client := &http.Client{Timeout: 30 * time.Second}
	get := func(path string) error {
		req, _ := http.NewRequest("GET", "http://"+d.routerAddr+path, nil)
		req.Host = "drowsy.localhost"
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return nil
	}

	for round := range 5 {
		d.mustClawd("namespace", "wake", "drowsy")
		d.waitPhase("drowsy", "Running", time.Minute)
		eventually(t, 10*time.Second, "no request open", func() bool { return d.activeConnections("drowsy") == 0 })
		slow := make(chan error, 1)
		go func() { slow <- get("/__standin/sleep?ms=1500") }()
		// The sleep must begin while the router holds the slow request.
		for d.activeConnections("drowsy") < 1 {
			select {
			case err := <-slow:
				t.Fatalf("round %d: the slow request ended before it was counted: %v", round, err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		d.mustClawd("namespace", "sleep", "drowsy", "--to=paused")
		if err := get("/healthz"); err != nil {
			t.Fatalf("round %d: the request right after the sleep: %v", round, err)
		}
		if err := <-slow; err != nil {
			t.Fatalf("round %d: the request open when the sleep began: %v", round, err)
		}
		// And with nothing open: paused at once, the next request wakes it.
		d.mustClawd("namespace", "sleep", "drowsy", "--to=paused")
		if err := get("/healthz"); err != nil {
			t.Fatalf("round %d: the request right after a sleep with nothing open: %v", round, err)
		}
	}
}

// activeConnections is the router's count of ns's open requests
// (clawd_router_active_connections), which the idle tracker counts first.
func (d *daemon) activeConnections(ns string) int {
	d.t.Helper()
	_, body := d.scrape(d.adminToken())
	prefix := `clawd_router_active_connections{namespace="` + ns + `"} `
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return 0
}
