// Package integration holds black-box tests of the built clawd binary
// against the real Docker engine and the stand-in gateway image.
package integration

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/clawd-dev/clawd/internal/testenv"
	"github.com/clawd-dev/clawd/zram"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	clawdBin  string
	dockerOK  bool
	dockerWhy string
	imageMu   sync.Mutex
	repoRoot  string
	// standinImg is the stand-in gateway image every test daemon runs:
	// STANDIN_IMAGE (as for integration/standin/build.sh) names another
	// build, so a change to the stand-in can be tested without replacing
	// the image other checkouts on this engine use.
	standinImg = cmp.Or(os.Getenv("STANDIN_IMAGE"), "clawd-standin:latest")
	// skillsRoot is every daemon's --skills.roots; skillDir makes
	// skills directories in it.
	skillsRoot string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, _ := os.Getwd()
	repoRoot = filepath.Dir(wd)
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		dockerWhy = fmt.Sprintf("no Docker engine answers (%v: %s); run 'make test', which starts one", err, bytes.TrimSpace(out))
	} else {
		dockerOK = true
	}
	dir, err := os.MkdirTemp("", "clawd-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	clawdBin = filepath.Join(dir, "clawd")
	// Apart from the daemons' data dirs, which no skills root may hold.
	if skillsRoot, err = os.MkdirTemp("", "clawd-it-skills-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(skillsRoot)
	args := []string{"build", "-o", clawdBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/clawd")...)
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building clawd:", err)
		return 1
	}
	if raceEnabled {
		// The race runtime sleeps a second at every exit by default: each
		// CLI call would take a second, and tests that watch a phase go by
		// would miss it.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	if dockerOK {
		src := standinSource()
		have, err := exec.Command("docker", "image", "inspect", "--format", `{{index .Config.Labels "clawd.standin.source"}}`, standinImg).Output()
		if err != nil || strings.TrimSpace(string(have)) != src {
			// Missing, or built from other sources (another branch's,
			// an older checkout's): the tests need this one.
			b := exec.Command("bash", "integration/standin/build.sh")
			b.Env = append(os.Environ(), "STANDIN_SOURCE="+src)
			b.Dir = repoRoot
			b.Stdout, b.Stderr = os.Stderr, os.Stderr
			if err := b.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building the stand-in image:", err)
				return 1
			}
		}
	}
	return m.Run()
}

func needDocker(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; -short given")
	}
	if !dockerOK {
		testenv.Missing(t, "%s", dockerWhy)
	}
}

// variantImage builds clawd-standin:<tag> with extra ENV lines baked in, so
// one daemon's every gateway crashes, leaks memory, and so on.
func variantImage(t testing.TB, tag string, env map[string]string) string {
	t.Helper()
	imageMu.Lock()
	defer imageMu.Unlock()
	name := "clawd-standin:" + tag
	if base, ok := strings.CutPrefix(standinImg, "clawd-standin:"); !ok || base != "latest" {
		// Variants of another build get tags of their own.
		name = "clawd-standin:" + strings.NewReplacer("/", "-", ":", "-").Replace(strings.TrimPrefix(standinImg, "clawd-standin:")) + "-" + tag
	}
	var df strings.Builder
	fmt.Fprintf(&df, "FROM %s\n", standinImg)
	for k, v := range env {
		fmt.Fprintf(&df, "ENV %s=%s\n", k, v)
	}
	cmd := exec.Command("docker", "build", "-q", "-t", name, "-")
	cmd.Stdin = strings.NewReader(df.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v: %s", name, err, out)
	}
	return name
}

func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	// Below the kernel's ephemeral range: a port from it, free when
	// checked, can be taken by any outgoing connection (to etcd, to a
	// gateway) before the daemon binds it ("address already in use").
	lo := ephemeralLow()
	for range 1000 {
		p := lowPorts + rand.IntN(max(lo-lowPorts, 1))
		if portsGiven[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[p] = true
		return p
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// lowPorts is where freePort starts looking; portsGiven are the ports it
// handed out in this run, never handed out twice.
const lowPorts = 20000

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	if n, err := strconv.Atoi(f[0]); err == nil && n > lowPorts+1000 {
		return n
	}
	return 32768
}

// daemon is one `clawd up` process with its own data dir, ports and store.
type daemon struct {
	t          testing.TB
	dir        string
	args       []string
	apiAddr    string
	routerAddr string
	cmd        *exec.Cmd
	waitErr    chan error
	logs       *bytes.Buffer
	mu         sync.Mutex
	cluster    string
}

func startDaemon(t testing.TB, extra ...string) *daemon {
	t.Helper()
	d := startSecureDaemon(t, extra...)
	// Most tests reach gateways by hostname alone, which needs the
	// namespaces public; TestKeyNeededByDefault covers the default.
	d.mustClawd("config", "set", "namespaces.*.auth.requireKey", "false")
	return d
}

// startSecureDaemon is startDaemon with clawd's defaults: no namespace is
// reachable without one of its API keys.
func startSecureDaemon(t testing.TB, extra ...string) *daemon {
	t.Helper()
	needDocker(t)
	d := &daemon{t: t, dir: t.TempDir()}
	d.apiAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d.routerAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d.args = append([]string{"up",
		"--datadir=" + d.dir,
		"--router.address=" + d.routerAddr,
		"--api.address=" + d.apiAddr,
		fmt.Sprintf("--etcd.clienturl=http://127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("--etcd.peerurl=http://127.0.0.1:%d", freePort(t)),
		"--gateway.image=" + standinImg,
		"--node.name=" + "it-" + filepath.Base(d.dir),
		"--supervisor.resyncinterval=5s",
		// Tests about cold creates stay deterministic; pool tests turn it on.
		"--warmpool.size=0",
		// Daemons run side by side: each model gateway takes a free port.
		"--modelgw.address=:0",
		"--skills.roots=" + skillsRoot,
	}, extra...)
	// Swap only where a test asks for it: every daemon left to the
	// default would make a zram device of a quarter of the host's memory.
	if !slices.ContainsFunc(extra, func(a string) bool { return strings.HasPrefix(a, "--memory.zram=") }) {
		d.args = append(d.args, "--memory.zram=off")
	}
	d.start()
	t.Cleanup(func() {
		d.stop()
		d.removeDockerObjects()
		d.unmountVolumes() // capped volumes (volumes_test.go)
		// The zram device clawd up made (it outlives clawd on purpose: a
		// restart finds its Compressed namespaces in it).
		if err := zram.Release(filepath.Join(d.dir, "zram.json")); err != nil {
			t.Errorf("removing the daemon's zram device: %v", err)
		}
		d.checkRaces()
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log())
		}
	})
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	d.start2(clawdBin, d.args, os.Environ())
}

// start2 starts the daemon with bin and args (a wrapper such as
// scripts/cluster.sh run, for a cluster node) and waits until it is up.
func (d *daemon) start2(bin string, args, env []string) {
	d.t.Helper()
	if d.logs != nil {
		d.checkRaces() // a restart: the last run's log is about to go
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Env = append(env, "CLAWD_LOG_LEVEL=debug")
	d.logs = &bytes.Buffer{}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	d.cmd.Stderr = &lockedWriter{mu: &d.mu, w: d.logs}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	up := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "clawd is up") {
				up <- line
			}
		}
	}()
	d.waitErr = make(chan error, 1)
	go func() { d.waitErr <- d.cmd.Wait() }()
	select {
	case line := <-up:
		_, c, _ := strings.Cut(line, "cluster ")
		d.cluster = strings.TrimSuffix(c, ")")
	case err := <-d.waitErr:
		d.t.Fatalf("clawd up exited early: %v\n%s", err, d.log())
	case <-time.After(90 * time.Second):
		d.t.Fatalf("clawd up did not come up in 90s\n%s", d.log())
	}
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

// raceReport starts each report of a daemon built with -race.
const raceReport = "WARNING: DATA RACE"

// checkRaces fails the test when the daemon's log holds a race report: the
// race detector only logs them, and the daemon's exit status is not read.
func (d *daemon) checkRaces() {
	d.t.Helper()
	if log := d.log(); strings.Contains(log, raceReport) {
		report := log[strings.Index(log, raceReport):]
		d.t.Errorf("the daemon has a data race:\n%s", report[:min(len(report), 20000)])
	}
}

// stop sends SIGTERM and waits, as an operator's systemctl stop would.
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.waitErr:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.waitErr
	}
}

func (d *daemon) kill9() {
	_ = d.cmd.Process.Kill()
	<-d.waitErr
}

// kill9When kills the daemon as soon as cond holds: the state a kill -9
// test means to interrupt, not whatever a fixed sleep happens to reach.
// It polls tightly, a Docker CLI call at a time; cond must be monotonic.
func (d *daemon) kill9When(timeout time.Duration, what string, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out after %s waiting for %s to kill the daemon in", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.kill9()
}

// removeDockerObjects deletes everything labelled with this daemon's
// cluster id, so tests leave the engine as they found it.
func (d *daemon) removeDockerObjects() {
	if d.cluster == "" {
		return
	}
	f := "label=io.clawd.cluster=" + d.cluster
	if ids := dockerLines(d.t, "ps", "-aq", "--filter", f); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
	if ids := dockerLines(d.t, "network", "ls", "-q", "--filter", f); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"network", "rm"}, ids...)...).Run()
	}
	if ids := dockerLines(d.t, "volume", "ls", "-q", "--filter", f); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"volume", "rm", "-f"}, ids...)...).Run()
	}
}

// clawd runs the CLI against this daemon.
func (d *daemon) clawd(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(clawdBin, args...)
	cmd.Env = append(os.Environ(), "CLAWD_ADDR=http://"+d.apiAddr, "CLAWD_DATADIR="+d.dir, "CLAWD_TOKEN=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// addProvider adds a model provider; its key is read from standard input,
// as an operator keeping it out of shell history would.
func (d *daemon) addProvider(name, api, baseURL, key string, models ...string) {
	d.t.Helper()
	cmd := exec.Command(clawdBin, "provider", "add", name, "--api="+api, "--base-url="+baseURL, "--api-key=-", "--models="+strings.Join(models, ","))
	cmd.Env = append(os.Environ(), "CLAWD_ADDR=http://"+d.apiAddr, "CLAWD_DATADIR="+d.dir, "CLAWD_TOKEN=")
	cmd.Stdin = strings.NewReader(key + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		d.t.Fatalf("clawd provider add %s: %v\n%s", name, err, out)
	}
}

// mustClawd runs the CLI and fails the test on a non-zero exit.
func (d *daemon) mustClawd(args ...string) string {
	d.t.Helper()
	out, errOut, err := d.clawd(args...)
	if err != nil {
		d.t.Fatalf("clawd %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

type nsView struct {
	Spec struct {
		Name      string   `json:"name"`
		Hostnames []string `json:"hostnames"`
	} `json:"spec"`
	Status struct {
		Phase       string    `json:"phase"`
		ContainerID string    `json:"containerId"`
		Address     string    `json:"address"`
		Reason      string    `json:"reason"`
		Restarts    int       `json:"restarts"`
		NextTry     time.Time `json:"nextTry"`
	} `json:"status"`
}

func (d *daemon) get(name string) nsView {
	d.t.Helper()
	var v nsView
	if err := json.Unmarshal([]byte(d.mustClawd("namespace", "get", name, "-o", "json")), &v); err != nil {
		d.t.Fatal(err)
	}
	return v
}

func (d *daemon) list() []nsView {
	d.t.Helper()
	var v []nsView
	if err := json.Unmarshal([]byte(d.mustClawd("namespace", "list", "-o", "json")), &v); err != nil {
		d.t.Fatal(err)
	}
	return v
}

// waitPhase polls until the namespace reaches phase or the timeout passes.
func (d *daemon) waitPhase(name, phase string, timeout time.Duration) nsView {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	var v nsView
	for time.Now().Before(deadline) {
		v = d.get(name)
		if v.Status.Phase == phase {
			return v
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.t.Fatalf("namespace %s: phase %s (reason %q), want %s after %s", name, v.Status.Phase, v.Status.Reason, phase, timeout)
	return v
}

type standinInfo struct {
	Namespace    string   `json:"namespace"`
	BootCount    int      `json:"bootCount"`
	ModelPrimary string   `json:"modelPrimary"`
	PID          int      `json:"pid"`
	Skills       []string `json:"skills"`
}

// viaRouter GETs path through the router with the given Host header.
func (d *daemon) viaRouter(host, path string) (int, []byte) {
	d.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.routerAddr+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("GET %s via router (Host %s): %v", path, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func dockerLines(t testing.TB, args ...string) []string {
	t.Helper()
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

func dockerInspect(t testing.TB, format, id string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--format", format, id).CombinedOutput()
	if err != nil {
		t.Fatalf("docker inspect %s: %v: %s", id, err, out)
	}
	return strings.TrimSpace(string(out))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// login signs a browser in at the router's login page and returns the
// HttpOnly cookie it got with its redirect.
func login(t *testing.T, d *daemon, host, key string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+d.routerAddr+"/__clawd/login", strings.NewReader("key="+url.QueryEscape(key)))
	req.Host = host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "clawd_key" && c.HttpOnly && resp.StatusCode == http.StatusSeeOther {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("login on %s: %d, cookies %v; want 303 with an HttpOnly clawd_key", host, resp.StatusCode, resp.Cookies())
	return ""
}

// standinSource is a digest of the stand-in's sources (its Go files, its
// Dockerfile and rootfs), the label its image is built with.
func standinSource() string {
	h := sha256.New()
	dir := filepath.Join(repoRoot, "integration", "standin")
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "standin" || strings.HasSuffix(rel, "_test.go") { // the built binary; tests are not packed
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		fmt.Fprintf(h, "%s %d\n", rel, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Under the race detector the daemon under test has it too, so that a data
// race in clawd, not only in the tests, fails them.
func TestDaemonHasTheRaceDetectorWhenTheTestsDo(t *testing.T) {
	info, err := buildinfo.ReadFile(clawdBin)
	if err != nil {
		t.Fatal(err)
	}
	race := false
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			race = true
		}
	}
	if race != raceEnabled {
		t.Fatalf("daemon built with -race=%t, tests run with it %t", race, raceEnabled)
	}
}
