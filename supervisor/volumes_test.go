package supervisor

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/volumes"
)

// volumeRuntime is the fake runtime with the mounts a real one reports
// and the volume abilities prepareVolumes uses.
type volumeRuntime struct {
	*fakeRuntime
	mu      sync.Mutex
	volumes map[string]bool // Docker volumes that exist
}

var (
	_ runtime.VolumePather = (*volumeRuntime)(nil)
	_ runtime.Objects      = (*volumeRuntime)(nil)
)

func (v *volumeRuntime) Create(ctx context.Context, spec runtime.GatewaySpec) (runtime.Instance, error) {
	if _, err := v.fakeRuntime.Create(ctx, spec); err != nil {
		return runtime.Instance{}, err
	}
	v.mu.Lock()
	if spec.DataBind == "" {
		v.volumes["vol-"+spec.Namespace+"-data"] = true
	}
	if spec.SkillsBind == "" {
		v.volumes["vol-"+spec.Namespace+"-skills"] = true
	}
	v.mu.Unlock()
	v.fakeRuntime.mu.Lock()
	defer v.fakeRuntime.mu.Unlock()
	c := v.fakeRuntime.containers[spec.Namespace]
	c.DataBind, c.SkillsBind = spec.DataBind, spec.SkillsBind
	c.DataVolume, c.SkillsVolume = "", ""
	if spec.DataBind == "" {
		c.DataVolume = "vol-" + spec.Namespace + "-data"
	}
	if spec.SkillsBind == "" {
		c.SkillsVolume = "vol-" + spec.Namespace + "-skills"
	}
	return *c, nil
}

func (v *volumeRuntime) NamespaceVolumes(_ context.Context, ns, dataVol, skillsVol string) (runtime.VolumeFiles, runtime.VolumeFiles, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out [2]runtime.VolumeFiles
	for i, name := range []string{cmp.Or(dataVol, "vol-"+ns+"-data"), cmp.Or(skillsVol, "vol-"+ns+"-skills")} {
		if v.volumes[name] {
			out[i] = runtime.VolumeFiles{Name: name, Path: "/docker/" + name}
		}
	}
	return out[0], out[1], nil
}

func (v *volumeRuntime) Objects(context.Context) ([]runtime.Object, error) { return nil, nil }

func (v *volumeRuntime) RemoveObject(_ context.Context, o runtime.Object) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.volumes, o.Name)
	v.fakeRuntime.log.add("runtime.removeobject " + o.Name)
	return nil
}

// fakeVolumes binds what the test says and records what it is asked.
type fakeVolumes struct {
	log       *opLog
	mu        sync.Mutex
	data      map[string]string
	needsStop map[string]bool
}

func (f *fakeVolumes) set(ns, data string, needsStop bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[ns], f.needsStop[ns] = data, needsStop
}

func (f *fakeVolumes) BindsFor(spec namespace.Spec, _ map[string]string) (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data[spec.Name], ""
}

func (f *fakeVolumes) Prepare(_ context.Context, spec namespace.Spec, _ map[string]string, stopped bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add(fmt.Sprintf("volumes.prepare %s stopped=%v", spec.Name, stopped))
	if f.needsStop[spec.Name] {
		if !stopped {
			return fmt.Errorf("growing: %w", volumes.ErrNeedsStop)
		}
		f.needsStop[spec.Name] = false
	}
	return nil
}

func (f *fakeVolumes) Import(_ context.Context, ns, role, from string) error {
	f.log.add(fmt.Sprintf("volumes.import %s %s %s", ns, role, from))
	return nil
}

func (f *fakeVolumes) Lock(_ context.Context, ns string) error {
	f.log.add("volumes.lock " + ns)
	return nil
}

func (f *fakeVolumes) Remove(_ context.Context, ns string, purge bool) error {
	f.log.add(fmt.Sprintf("volumes.remove %s purge=%v", ns, purge))
	return nil
}

// runVolumes runs a supervisor with alpha, whose data volume is bound
// at data from the start ("": a Docker volume).
func runVolumes(t *testing.T, data string) (*opLog, *volumeRuntime, *fakeStore, *fakeVolumes) {
	t.Helper()
	log := &opLog{}
	rt := &volumeRuntime{fakeRuntime: newFakeRuntime(log), volumes: map[string]bool{}}
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	vols := &fakeVolumes{log: log, data: map[string]string{"alpha": data}, needsStop: map[string]bool{}}
	cfg := testConfig()
	cfg.Volumes = vols
	runSupervisor(t, cfg, rt, st)
	return log, rt, st, vols
}

// A cap set on a running namespace: the gateway is stopped, its Docker
// volume's files moved, the container made again on the bind, the old
// volume dropped.
func TestVolumesMoveARunningGatewayOntoItsCap(t *testing.T) {
	log, rt, st, vols := runVolumes(t, "")
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	if got := rt.createdSpecs(); len(got) != 1 || got[0].DataBind != "" {
		t.Fatalf("created %+v, want one gateway on Docker volumes", got)
	}
	if log.index("volumes.prepare alpha stopped=true") >= 0 {
		t.Fatal("volumes prepared for a namespace without caps")
	}
	vols.set("alpha", "/v/alpha/data/root", false)
	waitFor(t, "a gateway on the capped volume", func() bool {
		got := rt.createdSpecs()
		return len(got) == 2 && got[1].DataBind == "/v/alpha/data/root"
	})
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	stop, prep := log.index("runtime.stop alpha"), log.index("volumes.prepare alpha stopped=true")
	imp, rm := log.index("volumes.import alpha data /docker/vol-alpha-data"), log.index("runtime.remove alpha")
	drop := log.index("runtime.removeobject vol-alpha-data")
	if stop < 0 || prep < stop || imp < prep || rm < imp || drop < rm {
		t.Fatalf("stop %d, prepare %d, import %d, remove %d, drop %d: want that order (ops %v)", stop, prep, imp, rm, drop, opsOf(log))
	}
	if log.index("volumes.import alpha skills /docker/vol-alpha-skills") >= 0 || log.index("runtime.removeobject vol-alpha-skills") >= 0 {
		t.Fatal("the skills volume, which has no cap, was moved")
	}
	if n := rt.count("create", "alpha"); n != 2 {
		t.Fatalf("%d creates", n)
	}
}

// A grow that needs the gateway stopped stops it, grows, starts it
// again, without counting a crash; a stop for sleep removes the key.
func TestVolumesStopForGrowAndLockOnSleep(t *testing.T) {
	log, rt, st, vols := runVolumes(t, "/v/alpha/data/root")
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	if got := rt.createdSpecs(); len(got) != 1 || got[0].DataBind != "/v/alpha/data/root" {
		t.Fatalf("created %+v, want one gateway on its capped volume from the start", got)
	}
	if p, c := log.index("volumes.prepare alpha stopped=true"), log.index("runtime.create alpha"); p < 0 || p > c {
		t.Fatalf("prepare at %d, create at %d: volumes first", p, c)
	}
	starts := rt.count("start", "alpha")
	vols.set("alpha", "/v/alpha/data/root", true)
	// A storage quota change is what makes a live gateway's volumes looked at again.
	st.updateSpec(t, "alpha", func(sp *namespace.Spec) { sp.Quota = &quota.Limits{StorageData: 128 << 20} })
	waitFor(t, "the gateway started again after the grow", func() bool { return rt.count("start", "alpha") > starts })
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	if last, _ := st.last("alpha"); last.Restarts != 0 {
		t.Fatalf("the stop for the grow counted as a failure: %+v", last)
	}
	st.updateSpec(t, "alpha", func(sp *namespace.Spec) { sp.Target = namespace.PhaseStopped })
	waitPhase(t, st, "alpha", namespace.PhaseStopped)
	if s, l := log.index("runtime.stop alpha"), log.index("volumes.lock alpha"); l < 0 || l < s {
		t.Fatalf("lock at %d after stop at %d (ops %v)", l, s, opsOf(log))
	}
}

// A cap set on an evicted namespace: its Docker volume's files are moved
// before the gateway is made again, on the cap.
func TestVolumesMoveAnEvictedNamespace(t *testing.T) {
	log, rt, st, vols := runVolumes(t, "")
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	st.updateSpec(t, "alpha", func(sp *namespace.Spec) { sp.Target = namespace.PhaseEvicted })
	waitPhase(t, st, "alpha", namespace.PhaseEvicted)
	vols.set("alpha", "/v/alpha/data/root", false)
	st.updateSpec(t, "alpha", func(sp *namespace.Spec) { sp.Target = "" })
	waitFor(t, "a gateway on the capped volume", func() bool {
		got := rt.createdSpecs()
		return len(got) == 2 && got[1].DataBind == "/v/alpha/data/root"
	})
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	imp, drop := log.index("volumes.import alpha data /docker/vol-alpha-data"), log.index("runtime.removeobject vol-alpha-data")
	creates := 0
	ops := opsOf(log)
	for i, op := range ops {
		if op == "runtime.create alpha" {
			creates++
			if creates == 2 && (imp < 0 || imp > i || drop > i) {
				t.Fatalf("import %d, drop %d, second create %d: want the move first (ops %v)", imp, drop, i, ops)
			}
		}
	}
	// Once: later starts do not move anything again.
	n := len(opsOf(log))
	st.updateSpec(t, "alpha", func(sp *namespace.Spec) { sp.Target = namespace.PhaseEvicted })
	waitPhase(t, st, "alpha", namespace.PhaseEvicted)
	st.updateSpec(t, "alpha", func(sp *namespace.Spec) { sp.Target = "" })
	waitPhase(t, st, "alpha", namespace.PhaseRunning)
	for _, op := range opsOf(log)[n:] {
		if strings.HasPrefix(op, "volumes.import") {
			t.Fatalf("moved again: %s", op)
		}
	}
}

// opsOf copies the log's ops under its lock.
func opsOf(l *opLog) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}
