package supervisor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
)

// skillDirs reads skills.load.extraDirs back from a written openclaw.json.
func skillDirs(t *testing.T, b []byte) []string {
	t.Helper()
	var c struct {
		Skills struct {
			Load struct {
				ExtraDirs []string `json:"extraDirs"`
			} `json:"load"`
		} `json:"skills"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("written config is not JSON: %v\n%s", err, b)
	}
	return c.Skills.Load.ExtraDirs
}

// namespaces.<ns>.skills.path mounts a host directory into the gateway and
// names it in the gateway's config; a new path re-creates the container
// (mounts are fixed) and keeps the volumes; a path that stops being usable
// leaves the running gateway alone.
func TestSkillsPathIsMountedAndAChangeRecreatesTheGateway(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	log := &opLog{}
	rt := newWritingRuntime(log)
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := &configStore{fakeStore: newFakeStore(log, spec("alpha")), values: make(chan map[string]string, 1)}
	st.values <- map[string]string{"namespaces.alpha.skills.path": first}
	runSupervisor(t, configTestConfig(), rt, st)
	waitPhase(t, st.fakeStore, "alpha", namespace.PhaseRunning)

	if got := rt.createdSpecs(); len(got) != 1 || got[0].HostSkills != first || got[0].HostSkillsDir != hostSkillsDir {
		t.Fatalf("created %+v, want one gateway with %s mounted at %s", got, first, hostSkillsDir)
	}
	if dirs := skillDirs(t, rt.written("alpha")[0]); !slices.Contains(dirs, hostSkillsDir) {
		t.Fatalf("config's skill dirs = %v, want %s among them", dirs, hostSkillsDir)
	}

	st.values <- map[string]string{"namespaces.alpha.skills.path": second}
	waitFor(t, "a gateway with the new directory", func() bool {
		got := rt.createdSpecs()
		return len(got) == 2 && got[1].HostSkills == second
	})
	waitPhase(t, st.fakeStore, "alpha", namespace.PhaseRunning)
	if rm := rt.removals("alpha"); len(rm) != 1 || rm[0].Volumes {
		t.Fatalf("removals %+v, want one that keeps the volumes", rm)
	}
	if s, r := log.index("runtime.stop alpha"), log.index("runtime.remove alpha"); s < 0 || s > r {
		t.Errorf("stop at op %d, remove at op %d: want a graceful stop first", s, r)
	}

	st.values <- map[string]string{"namespaces.alpha.skills.path": filepath.Join(second, "missing")}
	passes(t, rt.fakeRuntime, "alpha", 3)
	if n := len(rt.createdSpecs()); n != 2 || rt.count("remove", "alpha") != 1 {
		t.Fatalf("a missing directory re-created the gateway (%d creates, ops %v)", n, log.ops)
	}

	st.values <- map[string]string{}
	waitFor(t, "a gateway without a host directory", func() bool {
		got := rt.createdSpecs()
		return len(got) == 3 && got[2].HostSkills == ""
	})
}

// Under strict isolation (the default) no two namespaces share a skills
// directory, nor one inside the other; when both are shared they may.
func TestSkillsPathOverlapIsRefusedUnderStrictIsolation(t *testing.T) {
	dir := t.TempDir()
	inner := filepath.Join(dir, "beta")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	log := &opLog{}
	rt := newWritingRuntime(log)
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	rt.setBehaviour("beta", runsAt(readyGateway(t)))
	st := &configStore{fakeStore: newFakeStore(log, spec("alpha"), spec("beta")), values: make(chan map[string]string, 1)}
	paths := map[string]string{"namespaces.alpha.skills.path": dir, "namespaces.beta.skills.path": inner}
	st.values <- paths
	runSupervisor(t, configTestConfig(), rt, st)

	for _, ns := range []string{"alpha", "beta"} {
		got := waitPhase(t, st.fakeStore, ns, namespace.PhasePending)
		if !strings.Contains(got.Reason, "overlaps namespace") || !strings.Contains(got.Reason, "skills.isolation shared") {
			t.Errorf("%s: reason %q, want the overlap and the way out", ns, got.Reason)
		}
	}
	if rt.count("create", "alpha")+rt.count("create", "beta") != 0 {
		t.Fatalf("created a gateway with an overlapping skills directory (ops %v)", log.ops)
	}

	shared := map[string]string{"namespaces.*.skills.isolation": "shared"}
	for k, v := range paths {
		shared[k] = v
	}
	st.values <- shared
	waitPhase(t, st.fakeStore, "alpha", namespace.PhaseRunning)
	waitPhase(t, st.fakeStore, "beta", namespace.PhaseRunning)
}

// A skills.path that resolves into a system tree through a symlink is
// refused like the tree itself.
func TestSkillsPathSymlinkIntoSystemTreeIsRefused(t *testing.T) {
	link := filepath.Join(t.TempDir(), "skills")
	if err := os.Symlink("/etc", link); err != nil {
		t.Fatal(err)
	}
	log := &opLog{}
	rt := newWritingRuntime(log)
	st := &configStore{fakeStore: newFakeStore(log, spec("alpha")), values: make(chan map[string]string, 1)}
	st.values <- map[string]string{"namespaces.alpha.skills.path": link}
	runSupervisor(t, configTestConfig(), rt, st)
	got := waitPhase(t, st.fakeStore, "alpha", namespace.PhasePending)
	if !strings.Contains(got.Reason, "outside /etc") {
		t.Fatalf("reason %q, want the system tree named", got.Reason)
	}
}

// The real path is checked before every start, not only when the
// container is made: Docker resolves a bind mount's source again at each
// start, so a skills directory swapped for a symlink to /etc while the
// gateway slept would otherwise hand the tenant the host's /etc.
func TestSkillsPathSwappedForASymlinkStopsTheNextStart(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "alpha")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	log := &opLog{}
	rt := newWritingRuntime(log)
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := &configStore{fakeStore: newFakeStore(log, spec("alpha")), values: make(chan map[string]string, 1)}
	st.values <- map[string]string{"namespaces.alpha.skills.path": dir}
	cfg := configTestConfig()
	cfg.Skills = config.SkillsPolicy{Roots: []string{root}}
	runSupervisor(t, cfg, rt, st)
	waitPhase(t, st.fakeStore, "alpha", namespace.PhaseRunning)
	st.fakeStore.updateSpec(t, "alpha", func(sp *namespace.Spec) { sp.Target = namespace.PhaseStopped })
	waitPhase(t, st.fakeStore, "alpha", namespace.PhaseStopped)

	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", dir); err != nil {
		t.Fatal(err)
	}
	st.fakeStore.updateSpec(t, "alpha", func(sp *namespace.Spec) { sp.Target = "" })
	got := waitPhase(t, st.fakeStore, "alpha", namespace.PhasePending)
	if !strings.Contains(got.Reason, "not started") || !strings.Contains(got.Reason, "lies in /etc") {
		t.Errorf("reason %q, want the refused start and why", got.Reason)
	}
	passes(t, rt.fakeRuntime, "alpha", 3)
	if n := rt.count("start", "alpha"); n != 1 {
		t.Fatalf("%d starts, want only the first: the gateway started with its skills dir swapped for /etc (ops %v)", n, log.ops)
	}

	// Put right, the gateway starts again.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, st.fakeStore, "alpha", namespace.PhaseRunning)
}

// A skills path is mounted only from under the operator's roots, and
// never over clawd's own data dir, which a symlink must not reach either.
func TestSkillsPathOutsideTheRootsIsRefused(t *testing.T) {
	root, elsewhere := t.TempDir(), t.TempDir()
	data := filepath.Join(root, "clawd-data")
	link := filepath.Join(root, "alpha")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, target, want string
	}{
		{name: "outside", path: elsewhere, want: "is not under the skills roots"},
		{name: "symlink out", path: link, target: elsewhere, want: "is not under the skills roots"},
		{name: "data dir", path: data, want: "overlaps clawd's own " + data},
		{name: "symlink to the data dir", path: link, target: data, want: "overlaps clawd's own " + data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(link)
			if tc.target != "" {
				if err := os.Symlink(tc.target, link); err != nil {
					t.Fatal(err)
				}
			}
			log := &opLog{}
			rt := newWritingRuntime(log)
			st := &configStore{fakeStore: newFakeStore(log, spec("alpha")), values: make(chan map[string]string, 1)}
			st.values <- map[string]string{"namespaces.alpha.skills.path": tc.path}
			cfg := configTestConfig()
			cfg.Skills = config.SkillsPolicy{Roots: []string{root}, Protected: []string{data}}
			runSupervisor(t, cfg, rt, st)
			got := waitPhase(t, st.fakeStore, "alpha", namespace.PhasePending)
			if !strings.Contains(got.Reason, tc.want) {
				t.Errorf("reason %q, want %q", got.Reason, tc.want)
			}
			if n := rt.count("create", "alpha"); n != 0 {
				t.Errorf("%d creates, want none", n)
			}
		})
	}
}
