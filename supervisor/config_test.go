package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"sync"
	"testing"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

// writingRuntime is the fake runtime plus state writes, which it records
// per file; the containers report the router's address on their network.
type writingRuntime struct {
	*fakeRuntime
	mu     sync.Mutex
	writes map[string][][]byte // "namespace path" -> contents, oldest first
	fail   error
}

var _ runtime.StateWriter = (*writingRuntime)(nil)

func newWritingRuntime(log *opLog) *writingRuntime {
	return &writingRuntime{fakeRuntime: newFakeRuntime(log), writes: map[string][][]byte{}}
}

func (w *writingRuntime) Create(ctx context.Context, spec runtime.GatewaySpec) (runtime.Instance, error) {
	inst, err := w.fakeRuntime.Create(ctx, spec)
	w.fakeRuntime.mu.Lock()
	w.fakeRuntime.mu.Unlock()
	return inst, err
}

func (w *writingRuntime) WriteState(_ context.Context, ns, path string, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fakeRuntime.mu.Lock()
	w.fakeRuntime.record("write", ns)
	w.fakeRuntime.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	k := ns + " " + path
	w.writes[k] = append(w.writes[k], append([]byte(nil), data...))
	return nil
}

func (w *writingRuntime) written(ns string) [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.writes[ns+" /home/node/.openclaw/openclaw.json"]...)
}

func (w *writingRuntime) setFail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fail = err
}

// configStore is the fake store with a dynamic config watch.
type configStore struct {
	*fakeStore
	values chan map[string]string
}

var _ ConfigWatcher = (*configStore)(nil)

func (c *configStore) WatchConfig(ctx context.Context) <-chan map[string]string { return c.values }

// openclaw is what the tests read back from a written openclaw.json.
type openclaw struct {
	Gateway struct {
		TrustedProxies []string `json:"trustedProxies"`
		ControlUI      struct {
			AllowedOrigins []string `json:"allowedOrigins"`
		} `json:"controlUi"`
	} `json:"gateway"`
	Agents struct {
		Defaults struct {
			Model struct {
				Primary string `json:"primary"`
			} `json:"model"`
		} `json:"defaults"`
	} `json:"agents"`
}

func decodeConfig(t *testing.T, b []byte) openclaw {
	t.Helper()
	var c openclaw
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("written config is not JSON: %v\n%s", err, b)
	}
	return c
}

func configTestConfig() Config {
	cfg := testConfig()
	cfg.Gateway.SubnetPool = netip.MustParsePrefix("10.213.0.0/16")
	cfg.Gateway.Spec.StateDir = "/home/node/.openclaw"
	cfg.Gateway.Spec.SkillsDir = "/home/node/skills"
	cfg.Gateway.RouterHTTPPort = 80
	// Tests' skills directories are t.TempDir()s.
	cfg.Skills = config.SkillsPolicy{Roots: []string{os.TempDir()}}
	return cfg
}

// The gateway's config is in place before its first start, with the
// namespace's model; a config change and a hostname change reach the
// running gateway without a restart; an unchanged config is not rewritten.
func TestGatewayConfigFollowsSpecAndDynamicConfig(t *testing.T) {
	log := &opLog{}
	rt := newWritingRuntime(log)
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := &configStore{fakeStore: newFakeStore(log, spec("alpha")), values: make(chan map[string]string, 1)}
	st.values <- map[string]string{"namespaces.alpha.models.primary": "anthropic/claude-sonnet-4-5"}
	runSupervisor(t, configTestConfig(), rt, st)
	waitPhase(t, st.fakeStore, "alpha", namespace.PhaseRunning)

	if w, s := log.index("runtime.write alpha"), log.index("runtime.start alpha"); w < 0 || w > s {
		t.Fatalf("config written at op %d, gateway started at op %d: want the write first (%v)", w, s, log.ops)
	}
	first := decodeConfig(t, rt.written("alpha")[0])
	if first.Agents.Defaults.Model.Primary != "anthropic/claude-sonnet-4-5" || len(first.Gateway.TrustedProxies) != 1 || first.Gateway.TrustedProxies[0] != "10.213.0.0/16" {
		t.Fatalf("first config = %+v", first)
	}

	passes(t, rt.fakeRuntime, "alpha", 3)
	if n := len(rt.written("alpha")); n != 1 {
		t.Fatalf("config written %d times with nothing changed, want 1", n)
	}

	st.values <- map[string]string{"namespaces.alpha.models.primary": "anthropic/claude-haiku-4-5"}
	waitFor(t, "the new model is written", func() bool {
		w := rt.written("alpha")
		return decodeConfig(t, w[len(w)-1]).Agents.Defaults.Model.Primary == "anthropic/claude-haiku-4-5"
	})

	st.fakeStore.updateSpec(t, "alpha", func(sp *namespace.Spec) { sp.Hostnames = []string{"alpha.example"} })
	waitFor(t, "the hostname's origins are written", func() bool {
		w := rt.written("alpha")
		return len(decodeConfig(t, w[len(w)-1]).Gateway.ControlUI.AllowedOrigins) == 2
	})
	if n := rt.count("start", "alpha"); n != 1 {
		t.Errorf("gateway started %d times, want 1: config changes must not restart it", n)
	}
}

// A gateway whose config cannot be written is not started.
func TestGatewayWithoutConfigIsNotStarted(t *testing.T) {
	log := &opLog{}
	rt := newWritingRuntime(log)
	rt.setFail(errors.New("disk full"))
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	runSupervisor(t, configTestConfig(), rt, st)
	got := waitPhase(t, st, "alpha", namespace.PhaseFailed)
	if rt.count("start", "alpha") != 0 {
		t.Fatalf("started without a config (ops %v)", log.ops)
	}
	if got.Reason == "" {
		t.Error("failed without a reason")
	}
}
