package supervisor

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/store"
)

// opLog records the calls both fakes receive, in order, so a test can check
// that one happened before another.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) add(op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

// index is the position of the first op equal to op, or -1.
func (l *opLog) index(op string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, o := range l.ops {
		if o == op {
			return i
		}
	}
	return -1
}

// onStart is what a fake container does when it is started.
type onStart func(inst *runtime.Instance)

// exitsWith makes the container exit with code right after it starts.
func exitsWith(code int) onStart {
	return func(inst *runtime.Instance) {
		inst.State = runtime.StateExited
		inst.ExitCode = code
		inst.FinishedAt = time.Now()
	}
}

// oomKilled makes the kernel kill the container right after it starts.
func oomKilled() onStart {
	return func(inst *runtime.Instance) {
		inst.State = runtime.StateExited
		inst.ExitCode = 137
		inst.OOMKilled = true
		inst.FinishedAt = time.Now()
	}
}

// runsAt makes the container run and answer at addr; whether it is ready is
// up to whatever listens there.
func runsAt(addr string) onStart {
	return func(inst *runtime.Instance) {
		inst.State = runtime.StateRunning
		inst.Address = addr
	}
}

// fakeRuntime keeps containers in memory, keyed by namespace. Only what the
// supervisor calls is implemented; anything else panics on the nil embed.
type fakeRuntime struct {
	runtime.Runtime
	log *opLog

	mu         sync.Mutex
	containers map[string]*runtime.Instance
	behaviour  map[string]onStart
	calls      map[string]int // "op namespace" -> count
	created    []runtime.GatewaySpec
	removed    map[string][]runtime.RemoveOptions
	seq        int
	events     chan runtime.Event
}

var _ runtime.Runtime = (*fakeRuntime)(nil)

func newFakeRuntime(log *opLog) *fakeRuntime {
	return &fakeRuntime{
		log:        log,
		containers: map[string]*runtime.Instance{},
		behaviour:  map[string]onStart{},
		calls:      map[string]int{},
		removed:    map[string][]runtime.RemoveOptions{},
		events:     make(chan runtime.Event, 1024),
	}
}

// setBehaviour says what the namespace's container does on its next starts.
func (f *fakeRuntime) setBehaviour(ns string, b onStart) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behaviour[ns] = b
}

func (f *fakeRuntime) count(op, ns string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op+" "+ns]
}

// touched reports whether any call at all named ns.
func (f *fakeRuntime) touched(ns string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, n := range f.calls {
		if strings.HasSuffix(k, " "+ns) && n > 0 {
			return true
		}
	}
	return false
}

func (f *fakeRuntime) createdSpecs() []runtime.GatewaySpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]runtime.GatewaySpec(nil), f.created...)
}

func (f *fakeRuntime) removals(ns string) []runtime.RemoveOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]runtime.RemoveOptions(nil), f.removed[ns]...)
}

// record must be called with f.mu held.
func (f *fakeRuntime) record(op, ns string) {
	f.calls[op+" "+ns]++
	f.log.add("runtime." + op + " " + ns)
}

// emit sends an event if anyone keeps up; events may be lost, as in life.
func (f *fakeRuntime) emit(ns string, kind runtime.EventKind) {
	select {
	case f.events <- runtime.Event{Namespace: ns, Kind: kind, At: time.Now()}:
	default:
	}
}

func (f *fakeRuntime) Create(_ context.Context, spec runtime.GatewaySpec) (runtime.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create", spec.Namespace)
	f.created = append(f.created, spec)
	if c, ok := f.containers[spec.Namespace]; ok {
		return *c, nil
	}
	f.seq++
	c := &runtime.Instance{
		Namespace:   spec.Namespace,
		ContainerID: fmt.Sprintf("%064x", f.seq),
		Name:        "clawd-test-" + spec.Namespace,
		Image:       spec.Image,
		State:       runtime.StateCreated,
		HostSkills:  spec.HostSkills,
	}
	f.containers[spec.Namespace] = c
	return *c, nil
}

func (f *fakeRuntime) Start(_ context.Context, ns string) error {
	f.mu.Lock()
	f.record("start", ns)
	c, ok := f.containers[ns]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("starting %s: %w", ns, runtime.ErrNotFound)
	}
	f.seq++
	// Distinct start times even on a coarse clock: the supervisor tells
	// one crash from the next by StartedAt.
	c.StartedAt = time.Now().Add(time.Duration(f.seq))
	c.FinishedAt, c.ExitCode, c.OOMKilled, c.Address = time.Time{}, 0, false, ""
	c.State = runtime.StateRunning
	if b := f.behaviour[ns]; b != nil {
		b(c)
	}
	state := c.State
	f.mu.Unlock()
	f.emit(ns, runtime.EventStart)
	if state == runtime.StateExited {
		f.emit(ns, runtime.EventDie)
	}
	return nil
}

func (f *fakeRuntime) Stop(_ context.Context, ns string, _ time.Duration) error {
	f.mu.Lock()
	f.record("stop", ns)
	if c, ok := f.containers[ns]; ok && c.State == runtime.StateRunning {
		c.State, c.ExitCode, c.FinishedAt = runtime.StateExited, 143, time.Now()
	}
	f.mu.Unlock()
	f.emit(ns, runtime.EventDie)
	return nil
}

func (f *fakeRuntime) Pause(_ context.Context, ns string) error {
	return f.setState("pause", ns, runtime.StateRunning, runtime.StatePaused)
}

func (f *fakeRuntime) Unpause(_ context.Context, ns string) error {
	return f.setState("unpause", ns, runtime.StatePaused, runtime.StateRunning)
}

// setState moves ns's container from one state to another, as op.
func (f *fakeRuntime) setState(op, ns string, from, to runtime.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(op, ns)
	c, ok := f.containers[ns]
	if !ok {
		return fmt.Errorf("%s %s: %w", op, ns, runtime.ErrNotFound)
	}
	if c.State != from {
		return fmt.Errorf("%s %s: container is %s", op, ns, c.State)
	}
	c.State = to
	return nil
}

func (f *fakeRuntime) Inspect(_ context.Context, ns string) (runtime.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("inspect", ns)
	c, ok := f.containers[ns]
	if !ok {
		return runtime.Instance{}, fmt.Errorf("inspecting %s: %w", ns, runtime.ErrNotFound)
	}
	return *c, nil
}

func (f *fakeRuntime) Remove(_ context.Context, ns string, opts runtime.RemoveOptions) error {
	f.mu.Lock()
	f.record("remove", ns)
	f.removed[ns] = append(f.removed[ns], opts)
	delete(f.containers, ns)
	f.mu.Unlock()
	f.emit(ns, runtime.EventDestroy)
	return nil
}

func (f *fakeRuntime) Events(context.Context) (<-chan runtime.Event, <-chan error) {
	return f.events, make(chan error)
}

// fakeStore is the store as the supervisor sees it: one namespace watch that
// starts with a Reset and then echoes every write, as etcd does.
type fakeStore struct {
	Store
	log *opLog

	mu       sync.Mutex
	ns       map[string]namespace.Namespace
	statuses map[string][]namespace.Status
	deleted  map[string]int
	pending  []store.Event
	kick     chan struct{}
}

var _ Store = (*fakeStore)(nil)

func newFakeStore(log *opLog, nss ...namespace.Namespace) *fakeStore {
	f := &fakeStore{log: log, ns: map[string]namespace.Namespace{}, statuses: map[string][]namespace.Status{},
		deleted: map[string]int{}, kick: make(chan struct{}, 1)}
	for _, ns := range nss {
		f.ns[ns.Spec.Name] = ns
	}
	return f
}

// push queues an event for the watcher; f.mu must be held.
func (f *fakeStore) push(ev store.Event) {
	f.pending = append(f.pending, ev)
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *fakeStore) WatchNamespaces(ctx context.Context) <-chan store.Event {
	ch := make(chan store.Event)
	f.mu.Lock()
	snap := make([]namespace.Namespace, 0, len(f.ns))
	for _, ns := range f.ns {
		snap = append(snap, ns)
	}
	sort.Slice(snap, func(i, j int) bool { return snap[i].Spec.Name < snap[j].Spec.Name })
	f.pending = nil // the snapshot already holds them
	f.mu.Unlock()
	go func() {
		defer close(ch)
		send := func(ev store.Event) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if !send(store.Event{Type: store.EventReset, Snapshot: snap}) {
			return
		}
		for {
			f.mu.Lock()
			evs := f.pending
			f.pending = nil
			f.mu.Unlock()
			for _, ev := range evs {
				if !send(ev) {
					return
				}
			}
			select {
			case <-f.kick:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

func (f *fakeStore) PutStatus(_ context.Context, name string, st namespace.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns, ok := f.ns[name]
	if !ok {
		return fmt.Errorf("writing status of namespace %s: namespace %w", name, store.ErrNotFound)
	}
	ns.Status = st
	f.ns[name] = ns
	f.statuses[name] = append(f.statuses[name], st)
	f.push(store.Event{Type: store.EventPut, Name: name, Namespace: ns})
	return nil
}

func (f *fakeStore) DeleteNamespace(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("store.delete " + name)
	if _, ok := f.ns[name]; !ok {
		return fmt.Errorf("deleting namespace %s: namespace %w", name, store.ErrNotFound)
	}
	delete(f.ns, name)
	f.deleted[name]++
	f.push(store.Event{Type: store.EventDelete, Name: name})
	return nil
}

func (f *fakeStore) UpdateSpec(_ context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns, ok := f.ns[name]
	if !ok {
		return namespace.Spec{}, fmt.Errorf("updating namespace %s: namespace %w", name, store.ErrNotFound)
	}
	if err := fn(&ns.Spec); err != nil {
		return namespace.Spec{}, err
	}
	f.ns[name] = ns
	f.push(store.Event{Type: store.EventPut, Name: name, Namespace: ns})
	return ns.Spec, nil
}

// updateSpec edits a namespace's spec as the API would.
func (f *fakeStore) updateSpec(t *testing.T, name string, fn func(*namespace.Spec)) {
	t.Helper()
	if _, err := f.UpdateSpec(context.Background(), name, func(sp *namespace.Spec) error { fn(sp); return nil }); err != nil {
		t.Fatalf("updateSpec: %v", err)
	}
}

// history is every status written for name, oldest first.
func (f *fakeStore) history(name string) []namespace.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]namespace.Status(nil), f.statuses[name]...)
}

// last is the newest status written for name.
func (f *fakeStore) last(name string) (namespace.Status, bool) {
	h := f.history(name)
	if len(h) == 0 {
		return namespace.Status{}, false
	}
	return h[len(h)-1], true
}

func (f *fakeStore) deletions(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deleted[name]
}

// gatewayServer stands in for a gateway's HTTP side: it answers every
// request with status and body and counts the requests.
func gatewayServer(t *testing.T, status int, contentType, body string) (addr string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), hits
}

func readyGateway(t *testing.T) string {
	t.Helper()
	addr, _ := gatewayServer(t, http.StatusOK, "application/json", `{"ready":true}`)
	return addr
}

// testConfig has backoffs of a few milliseconds and a fast resync, and a
// start timeout long enough never to fire.
func testConfig() Config {
	return Config{
		Node:           "node-1",
		Gateway:        Gateway{Spec: runtime.GatewaySpec{Image: "clawd/gateway:test", Port: 18789, PidsLimit: 512}, ReadyPath: "/ready"},
		ResyncInterval: 20 * time.Millisecond,
		StartTimeout:   time.Hour,
		BackoffBase:    2 * time.Millisecond,
		BackoffMax:     10 * time.Millisecond,
		MaxRestarts:    3,
		Workers:        2,
	}
}

// runSupervisor runs a supervisor over any runtime and store (the fakes
// here or a test's own wrapping of them) until the test ends, and waits
// for its first snapshot.
func runSupervisor(t *testing.T, cfg Config, rt runtime.Runtime, st Store) *Supervisor {
	t.Helper()
	s := New(cfg, rt, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-s.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor never synced")
	}
	return s
}

// waitFor polls cond until it holds or a generous deadline passes. The
// deadline only stops a broken test; nothing asserts how long things take.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitPhase waits until the newest status of name has phase p.
func waitPhase(t *testing.T, st *fakeStore, name string, p namespace.Phase) namespace.Status {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s is %s (history %+v)", name, p, phasesOf(st.history(name))), func() bool {
		s, ok := st.last(name)
		return ok && s.Phase == p
	})
	s, _ := st.last(name)
	return s
}

// passes waits until the supervisor has inspected a steady canary
// namespace n more times: with a fast resync, every known namespace has had
// full passes by then. It is a progress barrier, not a timer.
func passes(t *testing.T, rt *fakeRuntime, canary string, n int) {
	t.Helper()
	from := rt.count("inspect", canary)
	waitFor(t, fmt.Sprintf("%d more passes over %s", n, canary), func() bool {
		return rt.count("inspect", canary) >= from+n
	})
}

func phasesOf(h []namespace.Status) []string {
	out := make([]string, len(h))
	for i, s := range h {
		out[i] = fmt.Sprintf("%s/%d", s.Phase, s.Restarts)
	}
	return out
}

func spec(name string) namespace.Namespace {
	return namespace.Namespace{Spec: namespace.Spec{Name: name, CreatedAt: time.Now().UTC()}}
}
