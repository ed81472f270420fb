package failover

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/store"
)

type fakeStore struct {
	mu    sync.Mutex
	nodes []store.Node
	ns    map[string]namespace.Namespace
}

func (f *fakeStore) ListNodes(context.Context) ([]store.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.Node(nil), f.nodes...), nil
}

func (f *fakeStore) ListNamespaces(context.Context) ([]namespace.Namespace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []namespace.Namespace
	for _, ns := range f.ns {
		out = append(out, ns)
	}
	return out, nil
}

func (f *fakeStore) UpdateSpec(_ context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns, ok := f.ns[name]
	if !ok {
		return namespace.Spec{}, store.ErrNotFound
	}
	if err := fn(&ns.Spec); err != nil {
		return namespace.Spec{}, err
	}
	f.ns[name] = ns
	return ns.Spec, nil
}

func (f *fakeStore) PutStatus(_ context.Context, name string, st namespace.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns, ok := f.ns[name]
	if !ok {
		return store.ErrNotFound
	}
	ns.Status = st
	f.ns[name] = ns
	return nil
}

func (f *fakeStore) get(name string) namespace.Namespace {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ns[name]
}

type fakeRuntime struct {
	insts   []runtime.Instance
	removed []string
	stopped []string
}

func (f *fakeRuntime) Stop(_ context.Context, ns string, _ time.Duration) error {
	f.stopped = append(f.stopped, ns)
	return nil
}

func (f *fakeRuntime) List(context.Context) ([]runtime.Instance, error) { return f.insts, nil }
func (f *fakeRuntime) Remove(_ context.Context, ns string, opts runtime.RemoveOptions) error {
	if opts.Volumes {
		panic("volumes removed")
	}
	f.removed = append(f.removed, ns)
	return nil
}

func newFake() *fakeStore {
	return &fakeStore{
		nodes: []store.Node{{Name: "a", MemoryBudget: 8 << 30, MemoryEstimate: 1 << 30}, {Name: "c", MemoryBudget: 8 << 30, MemoryEstimate: 1 << 30}},
		ns: map[string]namespace.Namespace{
			"on-b":  {Spec: namespace.Spec{Name: "on-b", Node: "b"}, Status: namespace.Status{Phase: namespace.PhaseRunning, Node: "b", Address: "10.0.0.2:1"}},
			"on-a":  {Spec: namespace.Spec{Name: "on-a", Node: "a", MemoryBytes: 4 << 30}, Status: namespace.Status{Phase: namespace.PhaseRunning, Node: "a"}},
			"del-b": {Spec: namespace.Spec{Name: "del-b", Node: "b", Deleting: true}},
		},
	}
}

func TestGoneNodeWithoutSharedVolumesFails(t *testing.T) {
	st := newFake()
	w := New(Config{Node: "a", Grace: 10 * time.Second}, st, &fakeRuntime{})
	t0 := time.Now()
	w.Pass(context.Background(), t0)
	w.Pass(context.Background(), t0.Add(9*time.Second))
	if p := st.get("on-b").Status.Phase; p != namespace.PhaseRunning {
		t.Fatalf("before the grace: %s", p)
	}
	w.Pass(context.Background(), t0.Add(10*time.Second))
	got := st.get("on-b")
	if got.Status.Phase != namespace.PhaseFailed || !strings.Contains(got.Status.Reason, "node b is gone") || got.Spec.Node != "b" {
		t.Fatalf("after the grace: %+v", got)
	}
	if st.get("del-b").Status.Phase == namespace.PhaseFailed || st.get("on-a").Status.Phase != namespace.PhaseRunning {
		t.Fatal("a namespace being deleted, or one on a live node, was touched")
	}
}

func TestGoneNodeWithSharedVolumesMoves(t *testing.T) {
	st := newFake()
	st.nodes[0].Labels = map[string]string{"zone": "x"}
	st.ns["picky"] = namespace.Namespace{Spec: namespace.Spec{Name: "picky", Node: "b", NodeSelector: map[string]string{"zone": "x"}}}
	w := New(Config{Node: "a", Grace: time.Second, Shared: true}, st, &fakeRuntime{})
	t0 := time.Now()
	w.Pass(context.Background(), t0)
	w.Pass(context.Background(), t0.Add(time.Second))
	got := st.get("on-b")
	// a holds 4Gi of 8, c nothing: c has more free.
	if got.Spec.Node != "c" || got.Status.Phase != namespace.PhasePending || !strings.Contains(got.Status.Reason, "moved from node b") {
		t.Fatalf("after the grace: %+v", got)
	}
	// One created with --node-selector keeps to nodes with its labels.
	if got := st.get("picky").Spec.Node; got != "a" {
		t.Fatalf("picky (zone=x) moved to %q; only a has zone=x", got)
	}
	// b returns in time for nothing: the namespace stays on c.
	st.nodes = append(st.nodes, store.Node{Name: "b"})
	w.Pass(context.Background(), t0.Add(2*time.Second))
	if st.get("on-b").Spec.Node != "c" {
		t.Fatal("moved back")
	}
}

func TestStaleContainerRemovedAfterGrace(t *testing.T) {
	st := newFake()
	rt := &fakeRuntime{insts: []runtime.Instance{{Namespace: "on-b", Name: "gw-on-b"}, {Namespace: "on-a", Name: "gw-on-a"}, {Namespace: "unknown"}}}
	st.nodes = append(st.nodes, store.Node{Name: "b"})
	// This is node c: on-b's gateway here is stale.
	w := New(Config{Node: "a", Grace: 5 * time.Second}, st, rt)
	w.cfg.Node = "c"
	t0 := time.Now()
	w.Pass(context.Background(), t0)
	w.Pass(context.Background(), t0.Add(4*time.Second))
	if len(rt.removed) != 0 {
		t.Fatalf("removed before the grace: %v", rt.removed)
	}
	w.Pass(context.Background(), t0.Add(5*time.Second))
	if len(rt.removed) != 2 || rt.removed[0] != "on-b" || rt.removed[1] != "on-a" {
		t.Fatalf("removed %v; want on-b and on-a (both placed elsewhere), never an unknown one", rt.removed)
	}
}

type downStore struct{ *fakeStore }

func (downStore) ListNodes(context.Context) ([]store.Node, error) {
	return nil, context.DeadlineExceeded
}

// With shared volumes a node out of touch with the store stops its
// gateways once its lease must have expired: the others will start them.
func TestFenceWhenTheStoreIsOutOfReach(t *testing.T) {
	rt := &fakeRuntime{insts: []runtime.Instance{{Namespace: "on-a", State: runtime.StateRunning}, {Namespace: "paused", State: runtime.StatePaused}}}
	w := New(Config{Node: "a", Grace: 30 * time.Second, Shared: true, FenceAfter: 10 * time.Second}, newFake(), rt)
	t0 := time.Now()
	w.Pass(context.Background(), t0) // in touch
	w.st = downStore{newFake()}
	w.Pass(context.Background(), t0.Add(9*time.Second))
	if len(rt.stopped) != 0 {
		t.Fatalf("fenced before the lease could expire: %v", rt.stopped)
	}
	w.Pass(context.Background(), t0.Add(10*time.Second))
	w.Pass(context.Background(), t0.Add(11*time.Second))
	if len(rt.stopped) != 2 || rt.stopped[0] != "on-a" || !w.Fenced() {
		t.Fatalf("fenced %v (%v); want on-a at each pass", rt.stopped, w.Fenced())
	}
	w.st = newFake()
	w.Pass(context.Background(), t0.Add(12*time.Second))
	if w.Fenced() {
		t.Fatal("still fenced with the store back")
	}
	// Without shared volumes nothing else can start them: never fenced.
	rt2 := &fakeRuntime{insts: rt.insts}
	w2 := New(Config{Node: "a", Grace: 30 * time.Second, FenceAfter: 10 * time.Second}, downStore{newFake()}, rt2)
	w2.Pass(context.Background(), t0)
	w2.Pass(context.Background(), t0.Add(time.Minute))
	if len(rt2.stopped) != 0 {
		t.Fatalf("fenced without shared volumes: %v", rt2.stopped)
	}
}
