package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/namespace"
)

// skillsDirRuntime shows a directory as every namespace's skills volume.
type skillsDirRuntime struct {
	*writingRuntime
	dir string
	err error
}

func (v *skillsDirRuntime) SkillsVolumeDir(context.Context, string, string) (string, error) {
	return v.dir, v.err
}

func installSkills(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n, "SKILL.md"), []byte("---\nname: "+n+"\n---\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// skills.maxInstalled counts the skills in the skills volume and in
// skills.path: over it the gateway is not started and the namespace says
// why; back within it, it starts.
func TestSkillsOverMaxInstalledAreNotStarted(t *testing.T) {
	volume, few, many := t.TempDir(), t.TempDir(), t.TempDir()
	installSkills(t, volume, "weather")
	installSkills(t, few, "github")
	installSkills(t, many, "github", "notion")
	log := &opLog{}
	rt := &skillsDirRuntime{writingRuntime: newWritingRuntime(log), dir: volume}
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	ns := spec("alpha")
	ns.Spec.MaxSkills = 2
	st := &configStore{fakeStore: newFakeStore(log, ns), values: make(chan map[string]string, 1)}
	st.values <- map[string]string{"namespaces.alpha.skills.path": many}
	runSupervisor(t, configTestConfig(), rt, st)

	status := waitPhase(t, st.fakeStore, "alpha", namespace.PhasePending)
	want := "skills.maxInstalled is 2 and 3 skills are installed (1 in the skills volume, 2 in skills.path): remove 1 or raise the quota"
	if !strings.Contains(status.Reason, want) {
		t.Fatalf("reason %q, want it to say %q", status.Reason, want)
	}
	if n := len(rt.createdSpecs()); n != 0 {
		t.Fatalf("%d gateways created over the quota, want none", n)
	}

	st.values <- map[string]string{"namespaces.alpha.skills.path": few}
	waitPhase(t, st.fakeStore, "alpha", namespace.PhaseRunning)
}

// A skills volume clawd cannot read into counts none: the quota does not
// keep the gateway down because clawd cannot see.
func TestSkillsUncountableVolumeDoesNotBlockTheStart(t *testing.T) {
	dir := t.TempDir()
	installSkills(t, dir, "github")
	log := &opLog{}
	rt := &skillsDirRuntime{writingRuntime: newWritingRuntime(log), err: errors.New(`volume x: driver "nfs" has no mountpoint on this host to read`)}
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	ns := spec("alpha")
	ns.Spec.MaxSkills = 1
	st := &configStore{fakeStore: newFakeStore(log, ns), values: make(chan map[string]string, 1)}
	st.values <- map[string]string{"namespaces.alpha.skills.path": dir}
	runSupervisor(t, configTestConfig(), rt, st)
	waitPhase(t, st.fakeStore, "alpha", namespace.PhaseRunning)
}
