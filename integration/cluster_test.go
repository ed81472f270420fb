package integration

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/clawd-dev/clawd/internal/testenv"
)

// cluster is scripts/cluster.sh's hosts: each node a network namespace
// with its own Docker engine, a three-member etcd between them.
type cluster struct {
	t     *testing.T
	id    string
	env   []string
	etcd  string
	addrs map[string]string // node → address
	key   string            // the secrets key every node shares
}

// needCluster skips (or, with CLAWD_REQUIRE_DOCKER=1, fails) a test for
// want of what scripts/cluster.sh needs.
func needCluster(t *testing.T) {
	t.Helper()
	needDocker(t)
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the cluster harness needs root (network namespaces, dockerd)")
	}
	for _, tool := range []string{"dockerd", "nsenter", "unshare", "ip", "setsid"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "the cluster harness needs %s: %v", tool, err)
		}
	}
}

func startCluster(t *testing.T, nodes int) *cluster {
	t.Helper()
	needCluster(t)
	pid := os.Getpid()
	c := &cluster{t: t, id: fmt.Sprintf("%x", pid&0xffffff), addrs: map[string]string{}}
	c.env = append(os.Environ(), "CLAWDC_ID="+c.id, fmt.Sprintf("CLAWDC_NET=10.231.%d", 20+pid%200),
		"CLAWDC_DIR="+filepath.Join(os.TempDir(), "clawdc-"+c.id), "CLAWDC_IMAGE="+standinImg)
	t.Cleanup(func() {
		if out, err := c.script("down"); err != nil {
			t.Errorf("cluster.sh down: %v\n%s", err, out)
		}
	})
	start := time.Now()
	if out, err := c.script("up", fmt.Sprint(nodes)); err != nil {
		t.Fatalf("cluster.sh up: %v\n%s", err, out)
	}
	t.Logf("cluster of %d nodes up in %.1fs", nodes, time.Since(start).Seconds())
	out, err := c.script("env")
	if err != nil {
		t.Fatalf("cluster.sh env: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch {
		case k == "CLAWDC_ETCD":
			c.etcd = v
		case strings.HasSuffix(k, "_ADDR"):
			c.addrs[strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(k, "CLAWDC_"), "_ADDR"))] = v
		}
	}
	var k [32]byte
	_, _ = rand.Read(k[:])
	c.key = base64.StdEncoding.EncodeToString(k[:])
	return c
}

func (c *cluster) script(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot, "scripts/cluster.sh")}, args...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// node starts clawd on a node, in its network namespace and cgroup.
func (c *cluster) node(name string, extra ...string) *daemon {
	t := c.t
	t.Helper()
	addr := c.addrs[name]
	d := &daemon{t: t, dir: t.TempDir()}
	d.apiAddr = addr + ":7070"
	d.routerAddr = addr + ":8080"
	args := append([]string{"run", name, clawdBin, "up",
		"--datadir=" + d.dir,
		"--router.address=" + d.routerAddr,
		"--router.tlsaddress=",
		"--api.address=" + d.apiAddr,
		"--etcd.endpoints=" + c.etcd,
		"--node.name=" + name,
		"--node.peeraddress=" + addr + ":7443",
		"--secrets.key=" + c.key,
		"--gateway.image=" + standinImg,
		"--supervisor.resyncinterval=5s",
		"--warmpool.size=0",
		"--modelgw.address=:0",
		"--skills.roots=" + skillsRoot,
		// Nodes share the host's kernel: no node needs its own swap.
		"--memory.zram=off",
	}, extra...)
	d.cmd = nil
	d.start2(filepath.Join(repoRoot, "scripts/cluster.sh"), args, c.env)
	t.Cleanup(func() {
		d.stop()
		d.checkRaces()
		if t.Failed() {
			t.Logf("node %s log:\n%s", name, d.log())
		}
	})
	return d
}

type nodeView struct {
	Name        string            `json:"name"`
	PeerAddress string            `json:"peerAddress"`
	Labels      map[string]string `json:"labels"`
	Namespaces  int               `json:"namespaces"`
	Budget      int64             `json:"memoryBudget"`
	Free        *int64            `json:"freeMemory"`
	Draining    bool              `json:"draining"`
}

type placedView struct {
	Spec struct {
		Node string `json:"node"`
	} `json:"spec"`
	Status struct {
		Phase string `json:"phase"`
		Node  string `json:"node"`
	} `json:"status"`
}

func placed(t *testing.T, d *daemon, name string) placedView {
	t.Helper()
	var v placedView
	if err := json.Unmarshal([]byte(d.mustClawd("namespace", "get", name, "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A namespace lives on the node placement picks, and any node's router
// reaches it: plain requests, a WebSocket, and a request that wakes it.
func TestClusterAnyRouterReachesAnyTenant(t *testing.T) {
	c := startCluster(t, 2)
	n1 := c.node("n1", "--node.labels=zone=a")
	n2 := c.node("n2", "--node.labels=zone=b")
	n1.mustClawd("config", "set", "namespaces.*.auth.requireKey", "false")

	var nodes []nodeView
	eventually(t, 15*time.Second, "both nodes listed", func() bool {
		nodes = nil
		_ = json.Unmarshal([]byte(n1.mustClawd("node", "list", "-o", "json")), &nodes)
		return len(nodes) == 2
	})
	for _, n := range nodes {
		if n.PeerAddress != c.addrs[n.Name]+":7443" || n.Budget <= 0 || n.Free == nil || n.Labels["zone"] == "" {
			t.Fatalf("node list: %+v", nodes)
		}
	}

	// Made through n1's API, placed on n2 by its label.
	n1.mustClawd("namespace", "create", "far", "--hostname=far.test", "--node-selector=zone=b")
	if v := placed(t, n1, "far"); v.Spec.Node != "n2" {
		t.Fatalf("--node-selector=zone=b placed it on %q", v.Spec.Node)
	}
	if v := placed(t, n1, "far"); v.Status.Node != "n2" || v.Status.Phase != "Running" {
		t.Fatalf("far: %+v", v)
	}
	// The next one goes where more is free: n1, which has none yet.
	n2.mustClawd("namespace", "create", "near", "--hostname=near.test")
	if v := placed(t, n2, "near"); v.Spec.Node != "n1" || v.Status.Node != "n1" {
		t.Fatalf("near: %+v; want it on n1", v)
	}
	// Each engine runs only its own.
	for node, want := range map[string]string{"n1": "near", "n2": "far"} {
		out, err := c.script("run", node, "docker", "ps", "--filter", "label=io.clawd.namespace", "--format", "{{.Label \"io.clawd.namespace\"}}")
		lines := strings.Fields(out)
		if err != nil || len(lines) == 0 || strings.Count(out, want) != len(lines) {
			t.Fatalf("containers on %s: %q %v; want only %s's", node, out, err, want)
		}
	}
	// Bad input: one clear line, nothing created.
	_, errOut, err := n1.clawd("namespace", "create", "nowhere", "--node=n9")
	if err == nil || !strings.Contains(errOut, `node "n9" is not alive`) {
		t.Fatalf("--node=n9: %v %q", err, errOut)
	}

	// HTTP through the other node's router, both ways.
	for _, tc := range []struct {
		via  *daemon
		host string
		ns   string
	}{{n1, "far.test", "far"}, {n2, "near.test", "near"}, {n2, "far.test", "far"}} {
		code, body := tc.via.viaRouter(tc.host, "/__standin")
		var info standinInfo
		_ = json.Unmarshal(body, &info)
		if code != 200 || info.Namespace != tc.ns {
			t.Fatalf("GET %s via %s: %d %s", tc.host, tc.via.routerAddr, code, body)
		}
	}

	// The hop's cost, as a figure: sequential keep-alive GETs of far
	// through its own node's router and through the other node's.
	perSec := func(d *daemon) float64 {
		client := &http.Client{Timeout: 10 * time.Second}
		const n = 300
		start := time.Now()
		for range n {
			req, _ := http.NewRequest("GET", "http://"+d.routerAddr+"/healthz", nil)
			req.Host = "far.test"
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET far via %s: %v", d.routerAddr, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return n / time.Since(start).Seconds()
	}
	local, cross := perSec(n2), perSec(n1)
	t.Logf("sequential GETs of far: %.0f/s via n2 (its node), %.0f/s via n1 (forwarded to n2): %.2fx", local, cross, cross/local)

	// A WebSocket through n1 to n2's gateway.
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, _, err := dialer.Dial("ws://"+n1.routerAddr+"/", http.Header{"Host": {"far.test"}})
	if err != nil {
		t.Fatalf("websocket via n1 to far: %v", err)
	}
	var challenge map[string]any
	if err := conn.ReadJSON(&challenge); err != nil || challenge["event"] != "connect.challenge" {
		t.Fatalf("no connect.challenge through n1: %v %v", challenge, err)
	}
	conn.Close()

	// A held wake: far sleeps on n2; a request through n1 waits while n2
	// starts it again, then gets its answer.
	n1.mustClawd("namespace", "sleep", "far", "--to=stopped")
	n1.waitPhase("far", "Stopped", 30*time.Second)
	start := time.Now()
	code, body := n1.viaRouter("far.test", "/__standin")
	if code != 200 || !strings.Contains(string(body), `"namespace":"far"`) {
		t.Fatalf("held wake via n1: %d %s", code, body)
	}
	t.Logf("request via n1 woke far on n2 in %.2fs", time.Since(start).Seconds())
	if v := placed(t, n1, "far"); v.Status.Phase != "Running" || v.Status.Node != "n2" {
		t.Fatalf("after the wake: %+v", v)
	}

	// Without shared volumes a drain would leave the data behind: refused,
	// and the node is not marked.
	_, errOut, err = n1.clawd("node", "drain", "n2")
	if err == nil || !strings.Contains(errOut, "only with volumes on shared storage") {
		t.Fatalf("drain without --volumes.shared: %v %q", err, errOut)
	}
	if strings.Contains(n1.mustClawd("node", "list", "-o", "json"), `"draining"`) {
		t.Fatal("a refused drain marked the node draining")
	}

	// The peer listener lets in only holders of the cluster's certificates.
	tc, err := tls.Dial("tcp", c.addrs["n2"]+":7443", &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		_, _ = fmt.Fprintf(tc, "GET /__standin HTTP/1.1\r\nHost: far.test\r\nX-Clawd-Peer-Namespace: far\r\n\r\n")
		buf := make([]byte, 64)
		_ = tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, rerr := tc.Read(buf)
		tc.Close()
		if rerr == nil {
			t.Fatalf("the peer listener answered a client without a certificate: %q", buf[:n])
		}
	}
}

// A node that dies takes its namespaces' gateways with it; with volumes
// on shared storage they come back on a live node, on the same data, and
// when the dead node returns it removes its stale copy instead of running
// it. "Shared storage" here is one directory of this machine that every
// node's engine binds (as an NFS mount at the same path would be).
func TestClusterNodeGoneMovesNamespaces(t *testing.T) {
	c := startCluster(t, 2)
	shared := t.TempDir()
	flags := []string{"--volumes.shared=" + shared, "--node.grace=3s"}
	n1 := c.node("n1", flags...)
	n2 := c.node("n2", flags...)
	n1.mustClawd("config", "set", "namespaces.*.auth.requireKey", "false")
	n1.mustClawd("namespace", "create", "mover", "--hostname=mover.test", "--node=n2")
	if v := placed(t, n1, "mover"); v.Spec.Node != "n2" || v.Status.Phase != "Running" {
		t.Fatalf("mover: %+v", v)
	}
	var before struct {
		Spec struct {
			DataVolume string `json:"dataVolume"`
		} `json:"spec"`
	}
	_ = json.Unmarshal([]byte(n1.mustClawd("namespace", "get", "mover", "-o", "json")), &before)
	vol := before.Spec.DataVolume
	dev, err := c.script("run", "n2", "docker", "volume", "inspect", "--format", "{{.Options.device}}", vol)
	if err != nil || strings.TrimSpace(dev) != filepath.Join(shared, vol) {
		t.Fatalf("data volume %q on n2 binds %q (%v); want %s", vol, dev, err, filepath.Join(shared, vol))
	}
	marker := filepath.Join(shared, vol, "written-on-n2")
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	// n2 crashes: its engine, its gateways and its clawd, all at once.
	killed := time.Now()
	if out, err := c.script("kill", "n2"); err != nil {
		t.Fatalf("cluster.sh kill n2: %v\n%s", err, out)
	}
	<-n2.waitErr // the kill took clawd too
	eventually(t, 60*time.Second, "mover running on n1", func() bool {
		v := placed(t, n1, "mover")
		return v.Spec.Node == "n1" && v.Status.Node == "n1" && v.Status.Phase == "Running"
	})
	t.Logf("mover back on n1 %.1fs after n2 died (lease 10s + grace 3s)", time.Since(killed).Seconds())
	dev, err = c.script("run", "n1", "docker", "volume", "inspect", "--format", "{{.Options.device}}", vol)
	if err != nil || strings.TrimSpace(dev) != filepath.Join(shared, vol) {
		t.Fatalf("data volume %q on n1 binds %q (%v)", vol, dev, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the data written on n2 is gone: %v", err)
	}
	code, body := n1.viaRouter("mover.test", "/__standin")
	if code != 200 || !strings.Contains(string(body), `"namespace":"mover"`) {
		t.Fatalf("mover via n1 after the move: %d %s", code, body)
	}

	// n2 comes back: its engine restarts the old gateway, and n2's clawd
	// removes it once the grace has passed.
	if out, err := c.script("engine", "n2"); err != nil {
		t.Fatalf("cluster.sh engine n2: %v\n%s", err, out)
	}
	n2 = c.node("n2", flags...)
	eventually(t, 60*time.Second, "n2's stale copy of mover removed", func() bool {
		out, err := c.script("run", "n2", "docker", "ps", "-a", "--filter", "label=io.clawd.namespace=mover", "-q")
		return err == nil && strings.TrimSpace(out) == ""
	})
	if v := placed(t, n2, "mover"); v.Spec.Node != "n1" || v.Status.Phase != "Running" {
		t.Fatalf("mover after n2 returned: %+v", v)
	}
	code, body = n2.viaRouter("mover.test", "/__standin")
	if code != 200 || !strings.Contains(string(body), `"namespace":"mover"`) {
		t.Fatalf("mover via n2 after it returned: %d %s", code, body)
	}

	// Drain n1: mover is stopped there, placed on n2 and started there.
	start := time.Now()
	_, errOut, err := n2.clawd("node", "drain", "n1")
	if err != nil || !strings.Contains(errOut, "namespace mover (Running) moved to n2") {
		t.Fatalf("node drain n1: %v %s", err, errOut)
	}
	t.Logf("drain of n1 (one running namespace) took %.1fs", time.Since(start).Seconds())
	eventually(t, 30*time.Second, "mover running on n2", func() bool {
		v := placed(t, n2, "mover")
		return v.Spec.Node == "n2" && v.Status.Node == "n2" && v.Status.Phase == "Running"
	})
	code, body = n1.viaRouter("mover.test", "/__standin")
	if code != 200 || !strings.Contains(string(body), `"namespace":"mover"`) {
		t.Fatalf("mover via n1 after the drain: %d %s", code, body)
	}
	eventually(t, 30*time.Second, "n1's stopped copy of mover removed", func() bool {
		out, err := c.script("run", "n1", "docker", "ps", "-a", "--filter", "label=io.clawd.namespace=mover", "-q")
		return err == nil && strings.TrimSpace(out) == ""
	})
	// Nothing new lands on a draining node, until --undo.
	n1.mustClawd("namespace", "create", "fresh", "--wait=false")
	if v := placed(t, n1, "fresh"); v.Spec.Node != "n2" {
		t.Fatalf("fresh placed on %q while n1 drains", v.Spec.Node)
	}
	var nodes []nodeView
	_ = json.Unmarshal([]byte(n1.mustClawd("node", "list", "-o", "json")), &nodes)
	if len(nodes) != 2 || !nodes[0].Draining || nodes[1].Draining {
		t.Fatalf("node list during the drain: %+v", nodes)
	}
	n1.mustClawd("node", "drain", "n1", "--undo")
	n1.mustClawd("namespace", "create", "fresh2", "--wait=false")
	if v := placed(t, n1, "fresh2"); v.Spec.Node != "n1" {
		t.Fatalf("fresh2 placed on %q after the undo; n1 has more free", v.Spec.Node)
	}
}

// A node cut off from the others (and from etcd) stops its gateways once
// its lease must have expired, the others start them on the shared data,
// and when the link heals the node rejoins and removes its stopped copy.
func TestClusterLinkCutAndRejoin(t *testing.T) {
	c := startCluster(t, 2)
	shared := t.TempDir()
	flags := []string{"--volumes.shared=" + shared, "--node.grace=12s"}
	n1 := c.node("n1", flags...)
	c.node("n2", flags...)
	n1.mustClawd("config", "set", "namespaces.*.auth.requireKey", "false")
	n1.mustClawd("namespace", "create", "island", "--hostname=island.test", "--node=n2")
	running := func(node string) string {
		out, err := c.script("run", node, "docker", "ps", "-q", "--filter", "label=io.clawd.namespace=island")
		if err != nil {
			t.Fatalf("docker ps on %s: %v %s", node, err, out)
		}
		return strings.TrimSpace(out)
	}
	if running("n2") == "" {
		t.Fatal("island does not run on n2")
	}

	cut := time.Now()
	if out, err := c.script("cut", "n2"); err != nil {
		t.Fatalf("cluster.sh cut n2: %v\n%s", err, out)
	}
	eventually(t, 90*time.Second, "island running on n1", func() bool {
		v := placed(t, n1, "island")
		return v.Spec.Node == "n1" && v.Status.Phase == "Running"
	})
	t.Logf("island running on n1 %.1fs after n2's link was cut", time.Since(cut).Seconds())
	if id := running("n2"); id != "" {
		t.Fatalf("island runs on n1 and still on the cut-off n2 (%s): two gateways on one data dir", id)
	}
	code, body := n1.viaRouter("island.test", "/__standin")
	if code != 200 || !strings.Contains(string(body), `"namespace":"island"`) {
		t.Fatalf("island via n1 during the cut: %d %s", code, body)
	}

	if out, err := c.script("heal", "n2"); err != nil {
		t.Fatalf("cluster.sh heal n2: %v\n%s", err, out)
	}
	eventually(t, 60*time.Second, "n2 back in the node list", func() bool {
		var nodes []nodeView
		_ = json.Unmarshal([]byte(n1.mustClawd("node", "list", "-o", "json")), &nodes)
		return len(nodes) == 2
	})
	eventually(t, 60*time.Second, "n2's stopped copy of island removed", func() bool {
		out, err := c.script("run", "n2", "docker", "ps", "-aq", "--filter", "label=io.clawd.namespace=island")
		return err == nil && strings.TrimSpace(out) == ""
	})
	if v := placed(t, n1, "island"); v.Spec.Node != "n1" || v.Status.Phase != "Running" || running("n1") == "" {
		t.Fatalf("island after the heal: %+v", v)
	}
}
