package integration

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// killGateway kills the namespace's gateway process as the kernel or a
// tenant's runaway tool would (SIGKILL, exit 137), once its container runs.
func (d *daemon) killGateway(name string) {
	d.t.Helper()
	var id string
	eventually(d.t, time.Minute, name+"'s gateway container runs", func() bool {
		id = d.get(name).Status.ContainerID
		return id != "" && dockerInspect(d.t, "{{.State.Running}}", id) == "true"
	})
	if out, err := exec.Command("docker", "kill", "--signal=KILL", id).CombinedOutput(); err != nil {
		d.t.Fatalf("docker kill %s: %v: %s", id, err, out)
	}
}

// Kills with healthy uptime between them are no crash loop: the failure
// count is forgotten after the stable period, and the namespace is never
// Failed however many there are.
func TestKillsWithHealthyGapsNeverFail(t *testing.T) {
	d := startDaemon(t, "--supervisor.maxrestarts=3", "--supervisor.backoffmax=1s", "--supervisor.stableperiod=3s")
	d.mustClawd("namespace", "create", "sturdy", "--hostname=sturdy.localhost", "--quota-memory=64Mi")
	d.waitPhase("sturdy", "Running", 90*time.Second)
	for i := 1; i <= 5; i++ {
		d.killGateway("sturdy")
		// The state after each kill is waited for, never a time: back
		// Running, then the count forgotten once the stable period passed.
		// The kill is counted (restarts 1 shows for the whole stable
		// period) before it may be forgotten.
		counted := false
		eventually(t, time.Minute, fmt.Sprintf("sturdy runs with its failures forgotten after kill %d", i), func() bool {
			v := d.get("sturdy")
			if v.Status.Phase == "Failed" || v.Status.Restarts > 1 {
				t.Fatalf("kill %d with healthy gaps: phase %s, restarts %d (%s)", i, v.Status.Phase, v.Status.Restarts, v.Status.Reason)
			}
			counted = counted || v.Status.Restarts == 1
			return counted && v.Status.Phase == "Running" && v.Status.Restarts == 0
		})
	}
	if code, _ := d.viaRouter("sturdy.localhost", "/healthz"); code != 200 {
		t.Fatalf("after five spaced kills the gateway answers %d", code)
	}
}

// Kills in quick succession are a crash loop: the namespace is Failed with
// the reason and when clawd tries next, tenants get a 503 with both at
// once, and it runs again by itself after the backoff.
func TestCrashLoopFailsThenRecoversByItself(t *testing.T) {
	d := startDaemon(t, "--supervisor.maxrestarts=5", "--supervisor.backoffmax=5s", "--supervisor.failedbackoffmax=10s", "--supervisor.stableperiod=10m")
	d.mustClawd("namespace", "create", "calm", "--hostname=calm.localhost", "--quota-memory=64Mi")
	d.mustClawd("namespace", "create", "loopy", "--hostname=loopy.localhost", "--quota-memory=64Mi")
	d.waitPhase("calm", "Running", 90*time.Second)
	d.waitPhase("loopy", "Running", 90*time.Second)

	// The neighbour is served throughout; its latency is a figure, not an
	// assertion (shared CI cores make timings noisy).
	before := neighbourLatency(t, d, "calm.localhost", 50)
	stop := make(chan struct{})
	during := make(chan []time.Duration, 1)
	go func() {
		// A request every 20 ms: a tenant's steady traffic, not a load test.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var ds []time.Duration
		for {
			select {
			case <-stop:
				during <- ds
				return
			case <-tick.C:
				ds = append(ds, neighbourLatency(t, d, "calm.localhost", 1)...)
			}
		}
	}()
	for range 5 {
		d.killGateway("loopy")
	}
	v := d.waitPhase("loopy", "Failed", time.Minute)
	close(stop)
	t.Logf("FIGURE neighbour latency before the crash loop: %s; during it: %s", summary(before), summary(<-during))
	if !strings.HasPrefix(v.Status.Reason, "exited with code 137; last log line: ") || v.Status.Restarts < 5 {
		t.Errorf("Failed with reason %q, restarts %d; want exit code 137 and the gateway's last log line after 5 failures", v.Status.Reason, v.Status.Restarts)
	}
	if v.Status.NextTry.IsZero() {
		t.Errorf("Failed without a next try")
	}

	// A tenant's request is answered at once, not held until the wake
	// timeout: why, and when to come back.
	req, _ := http.NewRequest("GET", "http://"+d.routerAddr+"/healthz", nil)
	req.Host = "loopy.localhost"
	start := time.Now()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Logf("the retry came first (%s after Failed was seen); the 503 is not checked", time.Since(start))
	} else {
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "exited with code 137") || ra < 1 || ra > 10 {
			t.Errorf("request to a Failed namespace: %d, Retry-After %q, body %s; want 503 with the reason and the wait", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("the 503 took %s: the request was held", time.Since(start))
		}
	}
	out := d.mustClawd("namespace", "get", "loopy")
	if !strings.Contains(out, "Next try:") && d.get("loopy").Status.Phase == "Failed" {
		t.Errorf("namespace get shows no next try:\n%s", out)
	}

	d.waitPhase("loopy", "Running", 2*time.Minute)
	if code, _ := d.viaRouter("loopy.localhost", "/healthz"); code != 200 {
		t.Fatalf("after recovering by itself the gateway answers %d", code)
	}
}

// neighbourLatency times n requests to host through the router; each must
// be answered 200.
func neighbourLatency(t *testing.T, d *daemon, host string, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		req, _ := http.NewRequest("GET", "http://"+d.routerAddr+"/healthz", nil)
		req.Host = host
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Errorf("neighbour request: %v", err)
			return out
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("neighbour answered %d during a crash loop next door", resp.StatusCode)
		}
		out = append(out, time.Since(start))
	}
	return out
}

// summary is the median and the largest of ds.
func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no requests"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("median %s, max %s over %d requests", s[len(s)/2].Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond), len(s))
}
