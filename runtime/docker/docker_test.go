package docker

// Integration tests against the real Docker engine. They skip only when no
// engine answers (run scripts/ensure-docker.sh to start one). Every test uses
// its own random cluster id and removes everything carrying it.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/clawd-dev/clawd/internal/testenv"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/runtime/cgroupfs"
)

const (
	testSubnetPool = "10.213.0.0/16"
	testPort       = 8080
	testMemory     = 64 << 20
	testCPUs       = 500_000_000 // half a CPU
)

var (
	imageOnce sync.Once
	imageTag  string
	imageErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if imageTag != "" {
		if api, err := client.New(client.FromEnv); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _ = api.ImageRemove(ctx, imageTag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
			cancel()
			_ = api.Close()
		}
	}
	os.Exit(code)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newTestRuntime returns a Runtime with a fresh cluster id; everything with
// that id is removed when the test ends.
func newTestRuntime(t *testing.T) *Runtime {
	t.Helper()
	return newTestRuntimeCluster(t, randomHex(16))
}

func newTestRuntimeCluster(t *testing.T, cluster string) *Runtime {
	t.Helper()
	r, err := New(Config{
		ClusterID:   cluster,
		CallTimeout: 30 * time.Second,
		// Carving subnets from a pool keeps the tests independent of the
		// engine's default pools (about 30 networks, easily used up).
		SubnetPool: testSubnetPool,
		Logger:     hclog.New(&hclog.LoggerOptions{Name: "runtime", Level: hclog.Debug, Output: testWriter{t}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		_ = r.Close()
		testenv.Missing(t, "no Docker engine reachable (run scripts/ensure-docker.sh): %v", err)
	}
	t.Cleanup(func() {
		purgeCluster(t, r.api, cluster)
		_ = r.Close()
	})
	return r
}

// purgeCluster removes every object labelled with the cluster id, bypassing
// the code under test so a bug there cannot leak objects.
func purgeCluster(t *testing.T, api client.APIClient, cluster string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := client.Filters{}.Add("label", runtime.LabelCluster+"="+cluster)
	if cs, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f}); err == nil {
		for _, c := range cs.Items {
			_, _ = api.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
	if ns, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: f}); err == nil {
		for _, n := range ns.Items {
			_, _ = api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		}
	}
	if vs, err := api.VolumeList(ctx, client.VolumeListOptions{Filters: f}); err == nil {
		for _, v := range vs.Items {
			_, _ = api.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true})
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testImage builds (once per test binary) a FROM scratch image around the
// static stand-in gateway in testdata/gateway. It runs as uid 1000 like the
// real gateway; /skills exists in the image owned by 1000 (Docker copies that
// into the fresh volume), /state does not (the runtime's chown must fix it).
func testImage(t *testing.T, api client.APIClient) string {
	t.Helper()
	imageOnce.Do(func() { imageTag, imageErr = buildTestImage(api) })
	if imageErr != nil {
		t.Fatalf("building test image: %v", imageErr)
	}
	return imageTag
}

func buildTestImage(api client.APIClient) (string, error) {
	dir, err := os.MkdirTemp("", "clawd-runtime-test")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "gateway")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/gateway")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	dockerfile := "FROM scratch\n" +
		"COPY gateway /gateway\n" +
		"COPY --chown=1000:1000 skills /skills\n" +
		"USER 1000:1000\n" +
		"ENTRYPOINT [\"/gateway\"]\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
		dir  bool
	}{
		{name: "Dockerfile", mode: 0o644, data: []byte(dockerfile)},
		{name: "gateway", mode: 0o755, data: binData},
		{name: "skills/", mode: 0o755, dir: true},
		{name: "skills/README", mode: 0o644, data: []byte("skills live here\n")},
	} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}
		if f.dir {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	tag := "clawd-runtime-test:" + randomHex(4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := api.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true,
	})
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	// The build reports failures inside the JSON stream, not as a status.
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", err
		}
		if msg.Error != "" {
			return "", errors.New(msg.Error)
		}
	}
	return tag, nil
}

// testIPAM picks a free subnet of the test pool for networks a test makes
// behind the runtime's back.
func testIPAM(t *testing.T, r *Runtime) *network.IPAM {
	t.Helper()
	used, err := r.subnetsInUse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	subnet, ok := r.subnets.pick(randomHex(8), used)
	if !ok {
		t.Fatal("test subnet pool is full")
	}
	return &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet}}}
}

func testSpec(ns, image string) runtime.GatewaySpec {
	return runtime.GatewaySpec{
		Namespace:   ns,
		Image:       image,
		Port:        testPort,
		NanoCPUs:    testCPUs,
		MemoryBytes: testMemory,
		Env:         map[string]string{"PORT": fmt.Sprint(testPort), "FOO": "bar"},
		StateDir:    "/state",
		SkillsDir:   "/skills",
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// httpGet polls the gateway until it answers 200 or the deadline passes.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		resp, err := hc.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
			last = fmt.Errorf("%s: %s", resp.Status, body)
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

func mustState(t *testing.T, r *Runtime, ns string, want runtime.State) runtime.Instance {
	t.Helper()
	inst, err := r.Inspect(ctxT(t), ns)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	if inst.State != want {
		t.Fatalf("state = %s, want %s", inst.State, want)
	}
	return inst
}

// collectEvents gathers the namespace's events in the background.
type eventLog struct {
	mu   sync.Mutex
	seen []runtime.Event
}

func (l *eventLog) has(ns string, kind runtime.EventKind) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.seen, func(e runtime.Event) bool { return e.Namespace == ns && e.Kind == kind })
}

func (l *eventLog) waitFor(t *testing.T, ns string, kinds ...runtime.EventKind) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, k := range kinds {
		for !l.has(ns, k) {
			if time.Now().After(deadline) {
				l.mu.Lock()
				defer l.mu.Unlock()
				t.Fatalf("no %s event for %s; saw %+v", k, ns, l.seen)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestLifecycle(t *testing.T) {
	r := newTestRuntime(t)
	image := testImage(t, r.api)
	ctx := ctxT(t)
	const ns = "life"
	spec := testSpec(ns, image)

	evCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	events, evErrs := r.Events(evCtx)
	var evs eventLog
	evDone := make(chan error, 1)
	go func() {
		for ev := range events {
			evs.mu.Lock()
			evs.seen = append(evs.seen, ev)
			evs.mu.Unlock()
		}
		evDone <- <-evErrs
	}()

	first, err := r.Create(ctx, spec)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	second, err := r.Create(ctx, spec)
	if err != nil {
		t.Fatalf("second create: %v", err)
	}
	if first.ContainerID == "" || first.ContainerID != second.ContainerID {
		t.Fatalf("create is not idempotent: %s then %s", first.ContainerID, second.ContainerID)
	}
	if first.State != runtime.StateCreated || first.Namespace != ns || first.Name != r.containerName(ns) || first.Image != image {
		t.Fatalf("created instance = %+v", first)
	}
	if first.Labels[runtime.LabelCluster] != r.ClusterID() || first.Labels[runtime.LabelRole] != "gateway" || first.Labels[LabelPort] != "8080" {
		t.Fatalf("labels = %v", first.Labels)
	}

	t.Run("network", func(t *testing.T) {
		mine, _, err := r.networksNamed(ctx, r.networkName(ns))
		if err != nil || len(mine) != 1 {
			t.Fatalf("networks %+v, err %v", mine, err)
		}
		n := mine[0]
		if n.Driver != "bridge" || n.Internal || len(n.IPAM.Config) != 1 {
			t.Fatalf("network = %+v", n)
		}
		subnet := n.IPAM.Config[0].Subnet
		if subnet.Bits() != DefaultSubnetPrefixLen || !netip.MustParsePrefix(testSubnetPool).Contains(subnet.Addr()) {
			t.Errorf("subnet %s is not a /%d of %s", subnet, DefaultSubnetPrefixLen, testSubnetPool)
		}
	})

	t.Run("caps in inspect", func(t *testing.T) {
		res, err := r.api.ContainerInspect(ctx, first.ContainerID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hc := res.Container.HostConfig
		if hc.NanoCPUs != testCPUs || hc.Memory != testMemory || hc.MemorySwap != testMemory {
			t.Errorf("cpu/memory = %d/%d/%d", hc.NanoCPUs, hc.Memory, hc.MemorySwap)
		}
		if hc.PidsLimit == nil || *hc.PidsLimit != defaultPidsLimit {
			t.Errorf("pids limit = %v, want %d", hc.PidsLimit, defaultPidsLimit)
		}
		if !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Equal(hc.SecurityOpt, []string{"no-new-privileges"}) {
			t.Errorf("cap drop %v, security opt %v", hc.CapDrop, hc.SecurityOpt)
		}
		if hc.Init == nil || !*hc.Init || !hc.ReadonlyRootfs || hc.RestartPolicy.Name != container.RestartPolicyDisabled {
			t.Errorf("init %v, readonly %v, restart %q", hc.Init, hc.ReadonlyRootfs, hc.RestartPolicy.Name)
		}
		if hc.Tmpfs["/tmp"] == "" || len(hc.Ulimits) != 1 || hc.Ulimits[0].Name != "nofile" || hc.Ulimits[0].Hard != defaultNofile {
			t.Errorf("tmpfs %v, ulimits %+v", hc.Tmpfs, hc.Ulimits)
		}
		if hc.LogConfig.Type != "json-file" || hc.LogConfig.Config["max-size"] != "10m" || hc.LogConfig.Config["max-file"] != "3" {
			t.Errorf("log config = %+v", hc.LogConfig)
		}
		env := res.Container.Config.Env
		for _, want := range []string{"CLAWD_NAMESPACE=life", "FOO=bar", "OPENCLAW_STATE_DIR=/state"} {
			if !slices.Contains(env, want) {
				t.Errorf("env %v lacks %s", env, want)
			}
		}
		var targets []string
		for _, m := range res.Container.Mounts {
			targets = append(targets, m.Name+":"+m.Destination)
		}
		slices.Sort(targets)
		want := []string{r.volumeName(ns, "data") + ":/state", r.volumeName(ns, "skills") + ":/skills"}
		if !slices.Equal(targets, want) {
			t.Errorf("mounts = %v, want %v", targets, want)
		}
	})

	for range 2 {
		if err := r.Start(ctx, ns); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	inst := mustState(t, r, ns, runtime.StateRunning)
	if inst.Address == "" || !strings.HasSuffix(inst.Address, ":8080") || inst.Pid == 0 || inst.StartedAt.IsZero() {
		t.Fatalf("running instance = %+v", inst)
	}
	body := httpGet(t, "http://"+inst.Address+"/")
	if !strings.Contains(body, `"namespace":"life"`) || !strings.Contains(body, `"uid":1000`) {
		t.Fatalf("gateway says %s", body)
	}
	// Both volumes must be writable by the gateway's uid 1000.
	httpGet(t, "http://"+inst.Address+"/write?v=kept")
	httpGet(t, "http://"+inst.Address+"/write?dir=/skills&v=skills")

	t.Run("caps in cgroup", func(t *testing.T) {
		l, err := cgroupfs.ReadLimits(inst.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if l.NanoCPUs() != testCPUs || l.MemoryLimit != testMemory || l.PidsMax != defaultPidsLimit {
			t.Errorf("cgroup limits = %+v (nano cpus %d)", l, l.NanoCPUs())
		}
	})

	t.Run("stats", func(t *testing.T) {
		st, err := r.Stats(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		if st.CPUUsage <= 0 || st.MemoryWorkingSet == 0 || st.MemoryLimit != testMemory || st.Pids == 0 || st.ReadAt.IsZero() {
			t.Errorf("stats = %+v", st)
		}
	})

	for range 2 {
		if err := r.Pause(ctx, ns); err != nil {
			t.Fatalf("pause: %v", err)
		}
	}
	mustState(t, r, ns, runtime.StatePaused)
	for range 2 {
		if err := r.Unpause(ctx, ns); err != nil {
			t.Fatalf("unpause: %v", err)
		}
	}
	inst = mustState(t, r, ns, runtime.StateRunning)
	httpGet(t, "http://"+inst.Address+"/")

	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ContainerID != first.ContainerID || list[0].Address != inst.Address || list[0].Pid != inst.Pid {
		t.Fatalf("list = %+v", list)
	}

	for range 2 {
		if err := r.Stop(ctx, ns, 5*time.Second); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	stopped := mustState(t, r, ns, runtime.StateExited)
	if stopped.FinishedAt.IsZero() || stopped.Address != "" || stopped.Pid != 0 {
		t.Fatalf("stopped instance = %+v", stopped)
	}
	if _, err := r.Stats(ctx, ns); !cerrdefs.IsFailedPrecondition(err) {
		t.Errorf("stats of a stopped gateway: %v", err)
	}
	if err := r.Unpause(ctx, ns); err != nil {
		t.Errorf("unpause of a stopped gateway: %v", err)
	}
	evs.waitFor(t, ns, runtime.EventStart, runtime.EventPause, runtime.EventUnpause, runtime.EventDie)

	objs, err := r.Objects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := objectKinds(objs); !slices.Equal(got, []string{"container", "network", "volume", "volume"}) {
		t.Fatalf("objects = %v", objs)
	}

	// Remove keeps the volumes unless asked.
	if err := r.Remove(ctx, ns, runtime.RemoveOptions{}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := r.Inspect(ctx, ns); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("inspect after remove: %v", err)
	}
	for name, err := range map[string]error{
		"start":   r.Start(ctx, ns),
		"stop":    r.Stop(ctx, ns, time.Second),
		"pause":   r.Pause(ctx, ns),
		"unpause": r.Unpause(ctx, ns),
	} {
		if !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("%s after remove: %v, want ErrNotFound", name, err)
		}
	}
	if _, err := r.Stats(ctx, ns); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("stats after remove: %v", err)
	}
	objs, _ = r.Objects(ctx)
	if got := objectKinds(objs); !slices.Equal(got, []string{"volume", "volume"}) {
		t.Fatalf("objects after remove = %v", objs)
	}
	evs.waitFor(t, ns, runtime.EventDestroy)

	// A new container finds the state the old one wrote.
	if _, err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, ns); err != nil {
		t.Fatal(err)
	}
	inst = mustState(t, r, ns, runtime.StateRunning)
	if got := httpGet(t, "http://"+inst.Address+"/read"); got != "kept" {
		t.Fatalf("state volume after re-create holds %q", got)
	}

	if err := r.Remove(ctx, ns, runtime.RemoveOptions{Volumes: true}); err != nil {
		t.Fatalf("remove with volumes: %v", err)
	}
	if err := r.Remove(ctx, ns, runtime.RemoveOptions{Volumes: true}); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if objs, _ := r.Objects(ctx); len(objs) != 0 {
		t.Fatalf("objects after purge = %v", objs)
	}

	stopEvents()
	select {
	case err := <-evDone:
		if err != nil {
			t.Errorf("event stream ended with %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("event channels not closed after cancel")
	}
}

func objectKinds(objs []runtime.Object) []string {
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Kind)
	}
	slices.Sort(kinds)
	return kinds
}

func TestClustersDoNotTouchEachOther(t *testing.T) {
	a := newTestRuntime(t)
	b := newTestRuntime(t)
	image := testImage(t, a.api)
	ctx := ctxT(t)
	const ns = "shared"

	ia, err := a.Create(ctx, testSpec(ns, image))
	if err != nil {
		t.Fatal(err)
	}
	ib, err := b.Create(ctx, testSpec(ns, image))
	if err != nil {
		t.Fatal(err)
	}
	if ia.ContainerID == ib.ContainerID || ia.Name == ib.Name {
		t.Fatalf("clusters share a container: %+v %+v", ia, ib)
	}
	for _, r := range []*Runtime{a, b} {
		list, err := r.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Labels[runtime.LabelCluster] != r.ClusterID() {
			t.Fatalf("cluster %s lists %+v", r.ClusterID(), list)
		}
		objs, err := r.Objects(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 4 {
			t.Fatalf("cluster %s owns %d objects: %+v", r.ClusterID(), len(objs), objs)
		}
	}
	if err := a.Remove(ctx, ns, runtime.RemoveOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Inspect(ctx, ns); err != nil {
		t.Fatalf("b's gateway after a's remove: %v", err)
	}
	if objs, _ := b.Objects(ctx); len(objs) != 4 {
		t.Fatalf("b owns %d objects after a's remove", len(objs))
	}

	// Clusters whose ids share the 8 characters in the names collide on
	// names, never on ownership.
	c := newTestRuntimeCluster(t, b.ClusterID()[:8]+randomHex(12))
	_, err = c.Create(ctx, testSpec(ns, image))
	var no *NotOwnedError
	if !errors.As(err, &no) || no.Cluster != b.ClusterID() {
		t.Fatalf("create over another cluster's objects: %v", err)
	}
	if err := c.Remove(ctx, ns, runtime.RemoveOptions{Volumes: true}); !errors.As(err, &no) {
		t.Fatalf("remove of another cluster's objects: %v", err)
	}
	if objs, _ := b.Objects(ctx); len(objs) != 4 {
		t.Fatalf("b owns %d objects after c's attempts", len(objs))
	}
}

// TestNodesSharingAnEngine: two nodes of one cluster on one engine each
// list, watch and sweep only the gateways they made. (A node that saw its
// neighbour's gateway as one "placed elsewhere" removed it, network and
// all, under load.)
func TestNodesSharingAnEngine(t *testing.T) {
	a := newTestRuntime(t)
	image := testImage(t, a.api)
	ctx := ctxT(t)
	a.node = "node-a"
	b := newRuntime(a.api, Config{ClusterID: a.ClusterID(), Node: "node-b", SubnetPool: testSubnetPool})
	b.subnets = a.subnets
	// A clawd that stamped no node (before the label) is everyone's.
	legacy := newRuntime(a.api, Config{ClusterID: a.ClusterID(), SubnetPool: testSubnetPool})
	legacy.subnets = a.subnets

	ia, err := a.Create(ctx, testSpec("on-a", image))
	if err != nil {
		t.Fatal(err)
	}
	if ia.Labels[runtime.LabelNode] != "node-a" {
		t.Fatalf("labels %v: no node", ia.Labels)
	}
	if _, err := legacy.Create(ctx, testSpec("unstamped", image)); err != nil {
		t.Fatal(err)
	}
	names := func(r *Runtime) (list []string, objs int) {
		insts, err := r.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range insts {
			list = append(list, in.Namespace)
		}
		o, err := r.Objects(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return list, len(o)
	}
	if list, objs := names(a); !slices.Equal(list, []string{"on-a", "unstamped"}) || objs != 8 {
		t.Errorf("node a lists %v and %d objects, want its own and the unstamped one's (8)", list, objs)
	}
	if list, objs := names(b); !slices.Equal(list, []string{"unstamped"}) || objs != 4 {
		t.Errorf("node b lists %v and %d objects, want only the unstamped one's (4)", list, objs)
	}
	if list, _ := names(legacy); len(list) != 2 {
		t.Errorf("a runtime without a node lists %v, want both", list)
	}
	ev := events.Message{Action: events.ActionStart, Actor: events.Actor{ID: ia.ContainerID, Attributes: ia.Labels}}
	if _, ok := b.eventFromMessage(ev); ok {
		t.Error("node b heard node a's gateway start")
	}
	if _, ok := a.eventFromMessage(ev); !ok {
		t.Error("node a did not hear its own gateway start")
	}

	// A namespace placed on node b while node a's container is still
	// there: running, b leaves it alone (a stops it after its grace);
	// stopped, b replaces it with its own on the same volumes.
	if err := a.Start(ctx, "on-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, testSpec("on-a", image)); err == nil || !strings.Contains(err.Error(), "running for node node-a") {
		t.Errorf("node b creating over node a's running container: %v", err)
	}
	if in, err := a.Inspect(ctx, "on-a"); err != nil || in.ContainerID != ia.ContainerID || in.State != runtime.StateRunning {
		t.Fatalf("node a's container after b's attempt: %+v, %v", in, err)
	}
	if err := a.Stop(ctx, "on-a", time.Second); err != nil {
		t.Fatal(err)
	}
	ib, err := b.Create(ctx, testSpec("on-a", image))
	if err != nil {
		t.Fatalf("node b over node a's stopped container: %v", err)
	}
	if ib.ContainerID == ia.ContainerID || ib.Labels[runtime.LabelNode] != "node-b" || ib.DataVolume != ia.DataVolume {
		t.Errorf("node b's gateway %+v, node a's was %+v: want b's own container on the same volume", ib, ia)
	}
}

func TestForeignObjectsAreRefusedAndKept(t *testing.T) {
	r := newTestRuntime(t)
	image := testImage(t, r.api)
	ctx := ctxT(t)

	t.Run("container", func(t *testing.T) {
		const ns = "squatted"
		name := r.containerName(ns)
		res, err := r.api.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name: name, Config: &container.Config{Image: image, Labels: map[string]string{"owner": "someone-else"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = r.api.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
		})

		_, err = r.Create(ctx, testSpec(ns, image))
		var no *NotOwnedError
		if !errors.As(err, &no) || no.Kind != "container" || no.Name != name || !cerrdefs.IsConflict(err) {
			t.Fatalf("create over a foreign container: %v", err)
		}
		if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "no clawd labels") {
			t.Errorf("error does not name the container: %v", err)
		}
		if _, err := r.Inspect(ctx, ns); !errors.As(err, &no) || errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("inspect of a foreign container: %v", err)
		}
		for op, err := range map[string]error{
			"start": r.Start(ctx, ns), "stop": r.Stop(ctx, ns, time.Second), "pause": r.Pause(ctx, ns),
			"remove": r.Remove(ctx, ns, runtime.RemoveOptions{Volumes: true}),
		} {
			if !errors.As(err, &no) {
				t.Errorf("%s of a foreign container: %v", op, err)
			}
		}
		if _, err := r.api.ContainerInspect(ctx, res.ID, client.ContainerInspectOptions{}); err != nil {
			t.Fatalf("the foreign container is gone: %v", err)
		}
		// The network and volumes Create made before hitting the container
		// are ours and went with Remove.
		if objs, _ := r.Objects(ctx); len(objs) != 0 {
			t.Errorf("objects left: %+v", objs)
		}
	})

	t.Run("network", func(t *testing.T) {
		const ns = "netsquat"
		name := r.networkName(ns)
		res, err := r.api.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", IPAM: testIPAM(t, r)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = r.api.NetworkRemove(context.Background(), res.ID, client.NetworkRemoveOptions{}) })
		_, err = r.Create(ctx, testSpec(ns, image))
		var no *NotOwnedError
		if !errors.As(err, &no) || no.Kind != "network" || no.ID != res.ID {
			t.Fatalf("create over a foreign network: %v", err)
		}
		if err := r.Remove(ctx, ns, runtime.RemoveOptions{}); !errors.As(err, &no) {
			t.Fatalf("remove with a foreign network: %v", err)
		}
		if _, err := r.api.NetworkInspect(ctx, res.ID, client.NetworkInspectOptions{}); err != nil {
			t.Fatalf("the foreign network is gone: %v", err)
		}
	})

	t.Run("volume", func(t *testing.T) {
		const ns = "volsquat"
		name := r.volumeName(ns, "data")
		if _, err := r.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = r.api.VolumeRemove(context.Background(), name, client.VolumeRemoveOptions{Force: true}) })
		_, err := r.Create(ctx, testSpec(ns, image))
		var no *NotOwnedError
		if !errors.As(err, &no) || no.Kind != "volume" || no.Name != name {
			t.Fatalf("create over a foreign volume: %v", err)
		}
		if err := r.Remove(ctx, ns, runtime.RemoveOptions{Volumes: true}); !errors.As(err, &no) {
			t.Fatalf("remove with a foreign volume: %v", err)
		}
		if _, err := r.api.VolumeInspect(ctx, name, client.VolumeInspectOptions{}); err != nil {
			t.Fatalf("the foreign volume is gone: %v", err)
		}
	})
}

// TestConcurrentCreates races creates of one namespace: they must agree on
// one container and leave one network, on engines that accept duplicate
// network names (API < 1.44) too.
func TestConcurrentCreates(t *testing.T) {
	r := newTestRuntime(t)
	image := testImage(t, r.api)
	ctx := ctxT(t)
	const ns = "race"

	const n = 4
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			inst, err := r.Create(ctx, testSpec(ns, image))
			ids[i], errs[i] = inst.ContainerID, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("creates disagree: %v", ids)
		}
	}
	mine, foreign, err := r.networksNamed(ctx, r.networkName(ns))
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || len(foreign) != 0 {
		t.Fatalf("networks after racing creates: %d ours, %d foreign", len(mine), len(foreign))
	}
}

// TestDuplicateNetworksAreCollapsed plants two networks of ours with the same
// name (what racing creates leave on API < 1.44 engines); Create keeps the
// oldest and removes the other.
func TestDuplicateNetworksAreCollapsed(t *testing.T) {
	r := newTestRuntime(t)
	image := testImage(t, r.api)
	ctx := ctxT(t)
	const ns = "dupnet"
	name := r.networkName(ns)

	var ids []string
	for range 2 {
		res, err := r.api.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: r.labels(ns, roleNetwork), IPAM: testIPAM(t, r)})
		if cerrdefs.IsConflict(err) {
			t.Skipf("engine (API %s) refuses duplicate network names itself", r.APIVersion())
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
		time.Sleep(10 * time.Millisecond) // distinct creation times
	}
	inst, err := r.Create(ctx, testSpec(ns, image))
	if err != nil {
		t.Fatal(err)
	}
	mine, _, err := r.networksNamed(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || mine[0].ID != ids[0] {
		t.Fatalf("networks left: %+v, want only %s", mine, ids[0])
	}
	res, err := r.api.ContainerInspect(ctx, inst.ContainerID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Container.HostConfig.NetworkMode); got != ids[0] {
		t.Fatalf("container attached to %s, want %s", got, ids[0])
	}
}

func TestEventsEndWithContext(t *testing.T) {
	r := newTestRuntime(t)
	ctx, cancel := context.WithCancel(context.Background())
	events, errs := r.Events(ctx)
	cancel()
	timeout := time.After(5 * time.Second)
	for events != nil || errs != nil {
		select {
		case _, ok := <-events:
			if !ok {
				events = nil
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
			} else if err != nil {
				t.Errorf("error after cancel: %v", err)
			}
		case <-timeout:
			t.Fatal("channels not closed after cancel")
		}
	}
}

func TestEventsReportBrokenStream(t *testing.T) {
	r, err := New(Config{ClusterID: randomHex(16), Host: "unix://" + filepath.Join(t.TempDir(), "no.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	events, errs := r.Events(context.Background())
	select {
	case err := <-errs:
		if err == nil {
			t.Fatal("nil error from a broken stream")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no error from a stream that cannot connect")
	}
	if _, ok := <-events; ok {
		t.Fatal("events channel still open")
	}
}

// TestPrunedNetworkIsRebuilt covers `docker network prune`, which removes the
// network of every stopped gateway: Start gives the container up (so the
// next pass re-creates it) and Create re-creates it instead of adopting it.
func TestPrunedNetworkIsRebuilt(t *testing.T) {
	r := newTestRuntime(t)
	image := testImage(t, r.api)
	ctx := ctxT(t)
	const ns = "pruned"
	spec := testSpec(ns, image)
	prune := func() {
		t.Helper()
		mine, _, err := r.networksNamed(ctx, r.networkName(ns))
		if err != nil || len(mine) != 1 {
			t.Fatalf("networks %v, err %v", mine, err)
		}
		if _, err := r.api.NetworkRemove(ctx, mine[0].ID, client.NetworkRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	prune()
	if err := r.Start(ctx, ns); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("start without a network: %v, want ErrNotFound", err)
	}
	if _, err := r.Inspect(ctx, ns); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("inspect after giving up the container: %v", err)
	}
	first, err := r.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(ctx, ns, time.Second); err != nil {
		t.Fatal(err)
	}

	prune()
	second, err := r.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if second.ContainerID == first.ContainerID {
		t.Fatal("create adopted a container whose network is gone")
	}
	if err := r.Start(ctx, ns); err != nil {
		t.Fatal(err)
	}
	inst := mustState(t, r, ns, runtime.StateRunning)
	httpGet(t, "http://"+inst.Address+"/")
}
