package docker

// Integration tests of the warm pool (spares, adoption) and state writes
// against the real Docker engine, in the style of docker_test.go.

import (
	"archive/tar"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/runtime/cgroupfs"
)

// Modest caps like the pool manager's, and a namespace's different ones.
const (
	spareCPUs   = 250_000_000
	spareMemory = 48 << 20
	sparePids   = 128
	nsPids      = 100
)

func spareSpec(image string) runtime.GatewaySpec {
	s := testSpec("", image)
	s.NanoCPUs, s.MemoryBytes, s.PidsLimit = spareCPUs, spareMemory, sparePids
	return s
}

func adoptSpec(ns, image string) runtime.GatewaySpec {
	s := testSpec(ns, image)
	s.PidsLimit = nsPids
	return s
}

// watchEvents collects the runtime's events until the test ends.
func watchEvents(t *testing.T, r *Runtime) *eventLog {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	events, _ := r.Events(ctx)
	var evs eventLog
	go func() {
		for ev := range events {
			evs.mu.Lock()
			evs.seen = append(evs.seen, ev)
			evs.mu.Unlock()
		}
	}()
	return &evs
}

// networksOf returns the names of the networks the container is attached to.
func networksOf(t *testing.T, r *Runtime, id string) []string {
	t.Helper()
	res, err := r.api.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range res.Container.NetworkSettings.Networks {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func networkCount(t *testing.T, r *Runtime, name string) int {
	t.Helper()
	mine, _, err := r.networksNamed(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return len(mine)
}

func spareIDs(t *testing.T, r *Runtime) []string {
	t.Helper()
	spares, err := r.Spares(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range spares {
		if !s.Spare || s.Namespace != "" || s.Name != r.spareName(s.SpareID) {
			t.Errorf("spare instance %+v", s)
		}
		ids = append(ids, s.SpareID)
	}
	return ids
}

// checkCaps compares the container's caps in Docker and in its cgroup.
func checkCaps(t *testing.T, r *Runtime, inst runtime.Instance, cpus, mem, pids int64) {
	t.Helper()
	res, err := r.api.ContainerInspect(context.Background(), inst.ContainerID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := res.Container.HostConfig
	if hc.NanoCPUs != cpus || hc.Memory != mem || hc.MemorySwap != mem || hc.PidsLimit == nil || *hc.PidsLimit != pids {
		t.Errorf("inspect caps: cpus %d memory %d swap %d pids %v; want %d %d %d", hc.NanoCPUs, hc.Memory, hc.MemorySwap, hc.PidsLimit, cpus, mem, pids)
	}
	l, err := cgroupfs.ReadLimits(res.Container.State.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if l.NanoCPUs() != cpus || l.MemoryLimit != uint64(mem) || l.PidsMax != pids {
		t.Errorf("cgroup caps: %+v (nano cpus %d); want %d %d %d", l, l.NanoCPUs(), cpus, mem, pids)
	}
}

func TestWarmPool(t *testing.T) {
	r := newTestRuntime(t)
	image := testImage(t, r.api)
	ctx := ctxT(t)
	evs := watchEvents(t, r)

	// Two spares, the first created twice.
	s1, err := r.CreateSpare(ctx, "s1", spareSpec(image))
	if err != nil {
		t.Fatalf("create spare: %v", err)
	}
	again, err := r.CreateSpare(ctx, "s1", spareSpec(image))
	if err != nil || again.ContainerID != s1.ContainerID {
		t.Fatalf("second create spare: %v, %s then %s", err, s1.ContainerID, again.ContainerID)
	}
	if _, err := r.CreateSpare(ctx, "s2", spareSpec(image)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateSpare(ctx, "Bad.Id", spareSpec(image)); !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("create spare with a bad id: %v", err)
	}
	if s1.Name != "clawd-"+r.short+".spare-s1" || s1.State != runtime.StateRunning || !s1.Spare || s1.SpareID != "s1" || s1.Namespace != "" {
		t.Fatalf("spare = %+v", s1)
	}
	if s1.Labels[runtime.LabelRole] != "spare" || s1.Labels[LabelSpare] != "s1" || s1.Labels[runtime.LabelNamespace] != "" || !r.owned(s1.Labels) {
		t.Fatalf("spare labels = %v", s1.Labels)
	}
	if s1.DataVolume != r.spareName("s1")+"-data" || s1.SkillsVolume != r.spareName("s1")+"-skills" {
		t.Fatalf("spare volumes = %q %q", s1.DataVolume, s1.SkillsVolume)
	}
	checkCaps(t, r, s1, spareCPUs, spareMemory, sparePids)

	if got := spareIDs(t, r); !slices.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("spares = %v", got)
	}
	spares, _ := r.Spares(ctx)
	for _, s := range spares {
		if !slices.Equal(networksOf(t, r, s.ContainerID), []string{r.spareName(s.SpareID) + "-net"}) {
			t.Errorf("spare %s networks = %v", s.SpareID, networksOf(t, r, s.ContainerID))
		}
		body := httpGet(t, "http://"+s.Address+"/")
		if !strings.Contains(body, `"namespace":""`) || !strings.Contains(body, `"uid":1000`) {
			t.Errorf("spare %s says %s", s.SpareID, body)
		}
	}
	if list, err := r.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list with only spares = %+v, %v", list, err)
	}
	objs, err := r.Objects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := objectKinds(objs); !slices.Equal(got, []string{"container", "container", "network", "network", "volume", "volume", "volume", "volume"}) {
		t.Fatalf("objects = %+v", objs)
	}
	for _, o := range objs {
		if o.Namespace != "" || !strings.HasPrefix(o.Name, r.sparePrefix()) {
			t.Errorf("spare object %+v", o)
		}
	}

	// Adopt s1 for "a" with the namespace's caps.
	a, err := r.Adopt(ctx, "s1", adoptSpec("a", image))
	if err != nil {
		t.Fatalf("adopt: %v", err)
	}
	if a.ContainerID != s1.ContainerID || a.Name != "clawd-"+r.short+"-a" || a.Namespace != "a" || a.SpareID != "s1" || a.Spare || a.State != runtime.StateRunning {
		t.Fatalf("adopted = %+v", a)
	}
	// On the namespace's network, made with the spare's subnet (so the
	// address may well be the same).
	if a.Address == "" {
		t.Fatalf("adopted address %q (spare's was %q)", a.Address, s1.Address)
	}
	if got := networksOf(t, r, a.ContainerID); !slices.Equal(got, []string{r.networkName("a")}) {
		t.Fatalf("adopted networks = %v", got)
	}
	waitNoNetwork(t, r, r.spareName("s1")+"-net")
	httpGet(t, "http://"+a.Address+"/")
	checkCaps(t, r, a, testCPUs, testMemory, nsPids)
	if got := spareIDs(t, r); !slices.Equal(got, []string{"s2"}) {
		t.Fatalf("spares after adoption = %v", got)
	}
	if inst, err := r.Inspect(ctx, "a"); err != nil || inst.Address != a.Address || inst.Spare || inst.SpareID != "s1" ||
		inst.DataVolume != s1.DataVolume || inst.SkillsVolume != s1.SkillsVolume {
		t.Fatalf("inspect adopted = %+v, %v", inst, err)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 1 || list[0].Namespace != "a" || list[0].ContainerID != a.ContainerID {
		t.Fatalf("list = %+v, %v", list, err)
	}

	t.Run("adopt is idempotent", func(t *testing.T) {
		again, err := r.Adopt(ctx, "s1", adoptSpec("a", image))
		if err != nil || again.ContainerID != a.ContainerID || again.Address != a.Address {
			t.Fatalf("second adopt = %+v, %v", again, err)
		}
		if again, err := r.Adopt(ctx, "", adoptSpec("a", image)); err != nil || again.ContainerID != a.ContainerID {
			t.Fatalf("adopt with no id = %+v, %v", again, err)
		}
	})

	t.Run("a spare serves one namespace", func(t *testing.T) {
		if _, err := r.Adopt(ctx, "s1", adoptSpec("b", image)); !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("adopting a taken spare: %v, want not found", err)
		}
		if _, err := r.Inspect(ctx, "b"); !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("b after the failed adoption: %v", err)
		}
	})

	t.Run("a namespace with a container refuses a spare", func(t *testing.T) {
		_, err := r.Adopt(ctx, "s2", adoptSpec("a", image))
		if !cerrdefs.IsConflict(err) {
			t.Fatalf("adopting into a namespace with a container: %v, want conflict", err)
		}
		if got := spareIDs(t, r); !slices.Equal(got, []string{"s2"}) {
			t.Fatalf("spares = %v", got)
		}
		s2, _ := r.Spares(ctx)
		if len(s2) != 1 || !slices.Equal(networksOf(t, r, s2[0].ContainerID), []string{r.spareName("s2") + "-net"}) {
			t.Fatalf("s2 touched: %+v", s2)
		}
		httpGet(t, "http://"+s2[0].Address+"/")
		now, err := r.Inspect(ctx, "a")
		if err != nil || now.ContainerID != a.ContainerID || now.Address != a.Address {
			t.Fatalf("a touched: %+v, %v", now, err)
		}
		checkCaps(t, r, now, testCPUs, testMemory, nsPids)
	})

	t.Run("adopted gateway keeps working", func(t *testing.T) {
		// Its HostConfig still names the spare's network, which is gone.
		if err := r.Stop(ctx, "a", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if err := r.Pause(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if err := r.Unpause(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		inst := mustState(t, r, "a", runtime.StateRunning)
		if inst.Address == "" || inst.Spare {
			t.Fatalf("restarted adopted gateway = %+v", inst)
		}
		httpGet(t, "http://"+inst.Address+"/")
		if st, err := r.Stats(ctx, "a"); err != nil || st.MemoryLimit != testMemory {
			t.Fatalf("stats = %+v, %v", st, err)
		}
		// Create adopts it as it is instead of replacing it.
		c, err := r.Create(ctx, adoptSpec("a", image))
		if err != nil || c.ContainerID != a.ContainerID {
			t.Fatalf("create over the adopted gateway = %+v, %v", c, err)
		}
		evs.waitFor(t, "a", runtime.EventDie, runtime.EventStart, runtime.EventPause, runtime.EventUnpause)
		evs.waitFor(t, "", runtime.EventStart)
	})

	t.Run("state write", func(t *testing.T) {
		if err := r.WriteState(ctx, "a", "/state/probe", []byte("from clawd")); err != nil {
			t.Fatal(err)
		}
		// The gateway (uid 1000) reads it back.
		if got := httpGet(t, "http://"+a.Address+"/read"); got != "from clawd" {
			t.Fatalf("gateway reads %q", got)
		}
		res, err := r.api.CopyFromContainer(ctx, a.ContainerID, client.CopyFromContainerOptions{SourcePath: "/state/probe"})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Content.Close()
		hdr, err := tar.NewReader(res.Content).Next()
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 1000 || hdr.Gid != 1000 || hdr.Mode&0o777 != 0o600 {
			t.Errorf("file uid %d gid %d mode %o", hdr.Uid, hdr.Gid, hdr.Mode)
		}
		// Overwrite.
		if err := r.WriteState(ctx, "a", "/state/probe", []byte("kept")); err != nil {
			t.Fatal(err)
		}
		if got := httpGet(t, "http://"+a.Address+"/read"); got != "kept" {
			t.Fatalf("gateway reads %q after overwrite", got)
		}
		for _, p := range []string{"/etc/passwd", "state/x", "/state/../etc/x", "/state"} {
			if err := r.WriteState(ctx, "a", p, nil); !cerrdefs.IsInvalidArgument(err) {
				t.Errorf("write to %s: %v, want invalid argument", p, err)
			}
		}
		if err := r.WriteState(ctx, "a", "/state/no/such/dir", nil); err == nil {
			t.Error("write into a missing directory succeeded")
		}
		if err := r.WriteState(ctx, "nobody", "/state/x", nil); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("write into a missing gateway: %v", err)
		}
	})

	t.Run("crash mid-adoption", func(t *testing.T) {
		// Killed right after the rename: the name is the claim.
		if err := r.claimSpare(ctx, r.log, "s2", "c"); err != nil {
			t.Fatal(err)
		}
		half, err := r.Inspect(ctx, "c")
		if err != nil || !half.Spare || half.Namespace != "c" || half.SpareID != "s2" || half.Address != "" {
			t.Fatalf("half adopted = %+v, %v", half, err)
		}
		if got := spareIDs(t, r); len(got) != 0 {
			t.Fatalf("spares = %v", got)
		}
		if list, _ := r.List(ctx); len(list) != 2 || list[1].Namespace != "c" || !list[1].Spare {
			t.Fatalf("list = %+v", list)
		}
		// Adopt of the same spare for another namespace fails; the claim holds.
		if _, err := r.Adopt(ctx, "s2", adoptSpec("d", image)); !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("adopting a claimed spare for d: %v", err)
		}
		c, err := r.Adopt(ctx, "", adoptSpec("c", image))
		if err != nil {
			t.Fatalf("finishing the adoption: %v", err)
		}
		if c.Spare || c.Address == "" || !slices.Equal(networksOf(t, r, c.ContainerID), []string{r.networkName("c")}) {
			t.Fatalf("finished adoption = %+v on %v", c, networksOf(t, r, c.ContainerID))
		}
		waitNoNetwork(t, r, r.spareName("s2")+"-net")
		checkCaps(t, r, c, testCPUs, testMemory, nsPids)
		httpGet(t, "http://"+c.Address+"/")
		evs.waitFor(t, "c", runtime.EventOther) // the rename
	})

	t.Run("crash after the connect", func(t *testing.T) {
		if _, err := r.CreateSpare(ctx, "s3", spareSpec(image)); err != nil {
			t.Fatal(err)
		}
		if err := r.claimSpare(ctx, r.log, "s3", "e"); err != nil {
			t.Fatal(err)
		}
		netID, err := r.ensureNetwork(ctx, "e")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.api.NetworkConnect(ctx, netID, client.NetworkConnectOptions{Container: r.containerName("e")}); err != nil {
			t.Fatal(err)
		}
		half, err := r.Inspect(ctx, "e")
		if err != nil || !half.Spare || half.Address == "" {
			t.Fatalf("half adopted = %+v, %v", half, err)
		}
		// Create finishes it too.
		e, err := r.Create(ctx, adoptSpec("e", image))
		if err != nil {
			t.Fatal(err)
		}
		if e.Spare || !slices.Equal(networksOf(t, r, e.ContainerID), []string{r.networkName("e")}) || e.Address != half.Address {
			t.Fatalf("finished adoption = %+v", e)
		}
		checkCaps(t, r, e, testCPUs, testMemory, nsPids)
	})

	t.Run("caps", func(t *testing.T) {
		inst, err := r.Inspect(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		// Once, with time to spare: each call allocates again.
		hc := &http.Client{Timeout: time.Minute}
		resp, err := hc.Get("http://" + inst.Address + "/alloc?mb=32")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cur, err := r.inspectContainer(ctx, inst.ContainerID)
		if err != nil {
			t.Fatal(err)
		}
		low := adoptSpec("c", image)
		low.MemoryBytes = 16 << 20
		if err := r.applyCaps(ctx, r.log, low, cur); !cerrdefs.IsFailedPrecondition(err) {
			t.Fatalf("lowering memory below use: %v, want failed precondition", err)
		}
		mustState(t, r, "c", runtime.StateRunning)
		// An uncapped spec lifts the caps as far as Docker can.
		free := adoptSpec("c", image)
		free.NanoCPUs, free.MemoryBytes = 0, 0
		if err := r.applyCaps(ctx, r.log, free, cur); err != nil {
			t.Fatal(err)
		}
		info, err := r.api.Info(ctx, client.InfoOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkCaps(t, r, inst, int64(info.Info.NCPU)*1e9, info.Info.MemTotal, nsPids)
	})

	t.Run("concurrent adoptions of one spare", func(t *testing.T) {
		if _, err := r.CreateSpare(ctx, "s4", spareSpec(image)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, ns := range []string{"x", "y"} {
			wg.Go(func() { _, errs[i] = r.Adopt(ctx, "s4", adoptSpec(ns, image)) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("adoptions: %v / %v, want exactly one to succeed", errs[0], errs[1])
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, runtime.ErrNotFound) {
				t.Fatalf("losing adoption: %v", err)
			}
		}
		_, ex := r.Inspect(ctx, "x")
		_, ey := r.Inspect(ctx, "y")
		if (ex == nil) == (ey == nil) {
			t.Fatalf("x: %v, y: %v", ex, ey)
		}
	})

	t.Run("remove spare", func(t *testing.T) {
		if _, err := r.CreateSpare(ctx, "s5", spareSpec(image)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := r.RemoveSpare(ctx, "s5"); err != nil {
				t.Fatal(err)
			}
		}
		objs, _ := r.Objects(ctx)
		for _, o := range objs {
			if strings.HasPrefix(o.Name, r.spareName("s5")) {
				t.Errorf("left over: %+v", o)
			}
		}
		// An adopted spare is the namespace's: nothing of it goes.
		if err := r.RemoveSpare(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		if inst, err := r.Inspect(ctx, "a"); err != nil || inst.State != runtime.StateRunning {
			t.Fatalf("a after removing its spare id: %+v, %v", inst, err)
		}
		for _, v := range []string{a.DataVolume, a.SkillsVolume} {
			if _, err := r.inspectVolume(ctx, v); err != nil {
				t.Errorf("volume %s: %v", v, err)
			}
		}
	})

	t.Run("objects", func(t *testing.T) {
		objs, err := r.Objects(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			switch {
			case o.Kind == "container" && o.Name == r.containerName("a"):
				if o.Namespace != "a" {
					t.Errorf("adopted container %+v", o)
				}
			case strings.HasPrefix(o.Name, r.sparePrefix()):
				if o.Namespace != "" {
					t.Errorf("spare-origin object %+v", o)
				}
			}
		}
	})

	t.Run("evict and re-create on the adopted volumes", func(t *testing.T) {
		if err := r.Remove(ctx, "a", runtime.RemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Inspect(ctx, "a"); !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("inspect after eviction: %v", err)
		}
		spec := adoptSpec("a", image)
		spec.DataVolume, spec.SkillsVolume = a.DataVolume, a.SkillsVolume
		inst, err := r.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if inst.DataVolume != a.DataVolume || inst.SkillsVolume != a.SkillsVolume || inst.SpareID != "" || inst.Namespace != "a" {
			t.Fatalf("re-created = %+v", inst)
		}
		for _, role := range []string{roleData, roleSkills} {
			if _, err := r.inspectVolume(ctx, r.volumeName("a", role)); !cerrdefs.IsNotFound(err) {
				t.Errorf("namespace's own %s volume: %v, want none", role, err)
			}
		}
		if err := r.Start(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		inst = mustState(t, r, "a", runtime.StateRunning)
		if got := httpGet(t, "http://"+inst.Address+"/read"); got != "kept" {
			t.Fatalf("state after re-create: %q", got)
		}
		// A volume named in the spec that is gone is an error, not a fresh one.
		lost := adoptSpec("lost", image)
		lost.DataVolume = r.spareName("gone") + "-data"
		if _, err := r.Create(ctx, lost); !cerrdefs.IsNotFound(err) {
			t.Fatalf("create with a missing named volume: %v", err)
		}
		_ = r.Remove(ctx, "lost", runtime.RemoveOptions{Volumes: true})
	})

	t.Run("remove leaves nothing", func(t *testing.T) {
		for _, ns := range []string{"a", "c", "e", "x", "y"} {
			opts := runtime.RemoveOptions{Volumes: true}
			if ns == "a" {
				opts.DataVolume, opts.SkillsVolume = a.DataVolume, a.SkillsVolume
			}
			for range 2 {
				if err := r.Remove(ctx, ns, opts); err != nil {
					t.Fatalf("remove %s: %v", ns, err)
				}
			}
		}
		if objs, _ := r.Objects(ctx); len(objs) != 0 {
			t.Fatalf("objects left: %+v", objs)
		}
	})
}

// TestRemoveHalfAdopted removes a namespace whose gateway was only renamed:
// the spare's network goes with it, and its volumes with Volumes set.
func TestRemoveHalfAdopted(t *testing.T) {
	r := newTestRuntime(t)
	image := testImage(t, r.api)
	ctx := ctxT(t)
	if _, err := r.CreateSpare(ctx, "h1", spareSpec(image)); err != nil {
		t.Fatal(err)
	}
	if err := r.claimSpare(ctx, r.log, "h1", "half"); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, "half", runtime.RemoveOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	if objs, _ := r.Objects(ctx); len(objs) != 0 {
		t.Fatalf("objects left: %+v", objs)
	}
}

// waitNoNetwork waits for an adopted spare's network to go: Adopt removes
// it in the background, off the tenant's first request.
func waitNoNetwork(t *testing.T, r *Runtime, name string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); networkCount(t, r, name) != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("network %s is still there 30s after the adoption", name)
		}
	}
}
