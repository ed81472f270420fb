// Package supervisor keeps every namespace's gateway as its spec says:
// a level-triggered reconcile of the store's desired state against what the
// runtime reports, woken by store watches and runtime events and backed by a
// periodic full pass, because event streams drop messages.
package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/singleflight"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/openclawcfg"
	"github.com/clawd-dev/clawd/probe"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/units"
)

// Store is what the supervisor needs from the state store.
type Store interface {
	WatchNamespaces(ctx context.Context) <-chan store.Event
	PutStatus(ctx context.Context, name string, st namespace.Status) error
	DeleteNamespace(ctx context.Context, name string) error
	UpdateSpec(ctx context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error)
}

// ConfigWatcher feeds the dynamic config (`clawd config set`). A Store
// that has it gets each gateway's config rewritten when a value it reads
// changes; without it gateways get the defaults.
type ConfigWatcher interface {
	WatchConfig(ctx context.Context) <-chan map[string]string
}

// Models gives each gateway the model providers it reaches through clawd's
// model gateway (openclawcfg.Models).
type Models interface {
	Models(spec namespace.Spec) openclawcfg.Models
	// Changes fires when what Models returns may have changed (a provider
	// added or removed): every gateway's config is rendered again.
	Changes() <-chan struct{}
}

// Pool hands out ready warm-pool gateways.
type Pool interface {
	Take() (runtime.Instance, bool)
	Release(id string)
}

// Gate is the router's door to a namespace's gateway (reaper.Activity).
type Gate interface {
	// Close shuts it and returns how many requests, WebSockets and
	// streams are open.
	Close(ns string) int64
	// Open reopens it.
	Open(ns string)
}

// Gateway is the template every namespace's container is made from.
type Gateway struct {
	// Spec holds what every gateway shares (image, port, dirs, pids
	// limit, environment); gatewaySpec adds the namespace's part. The
	// warm pool's spares are made from the same template.
	Spec      runtime.GatewaySpec
	ReadyPath string
	// SubnetPool is what every gateway's network is carved from; gateways
	// trust it as their proxy (openclawcfg.Options.SubnetPool).
	SubnetPool netip.Prefix
	// RouterHTTPPort and RouterHTTPSPort are the router's listening ports
	// (0: off), for the Control UI origins in each gateway's config.
	RouterHTTPPort, RouterHTTPSPort int
}

// Config tunes the supervisor.
type Config struct {
	Node           string
	Gateway        Gateway
	ResyncInterval time.Duration
	StartTimeout   time.Duration
	BackoffBase    time.Duration
	BackoffMax     time.Duration
	MaxRestarts    int
	// StopTimeout is the drain period between SIGTERM and SIGKILL.
	StopTimeout time.Duration
	// Pool, when set, gives new namespaces a pre-started gateway.
	Pool Pool
	// Models, when set, lists model providers in every gateway's config.
	Models Models
	// MemoryBudget caps the memory all gateways and spares may hold (0: no
	// budget); MemoryEstimate is what an uncapped gateway is counted as.
	MemoryBudget   int64
	MemoryEstimate int64
	// Activity feeds the least-recently-used choice under memory pressure.
	Activity Activity
	// Gate, when set, is shut before a gateway is paused or stopped, so
	// the router holds new requests and wakes the namespace instead.
	Gate    Gate
	Workers int
	Logger  hclog.Logger
}

// Supervisor reconciles namespaces owned by this node.
type Supervisor struct {
	cfg    Config
	rt     runtime.Runtime
	st     Store
	log    hclog.Logger
	q      *queue
	client *http.Client
	// probeHeader goes on every ready probe; see probe.ReadyWith.
	probeHeader http.Header

	mu     sync.Mutex
	known  map[string]namespace.Namespace // latest from the store watch
	values map[string]string              // latest dynamic config
	tracks map[string]*track
	synced chan struct{}
	// running has one channel per namespace someone waits on; it is closed
	// when the namespace's status turns Running.
	running map[string]chan struct{}
	wakes   singleflight.Group
}

// track is the supervisor's memory of one namespace's starts and crashes.
type track struct {
	failures    int       // consecutive failed starts
	nextStart   time.Time // not before this (backoff)
	lastReason  string
	lastStarted time.Time // StartedAt of the container we last counted
	readySince  time.Time
	// drainSince is when a pause began waiting for open requests.
	drainSince time.Time
	// config is the gateway config last written into container configIn.
	config   []byte
	configIn string
	// starting is the address of the gateway the last full pass found
	// booting, at fullPass: until it is ready, passes in between only
	// probe it (see probeWhileStarting).
	starting string
	fullPass time.Time
}

// probeWhileStarting is how long a booting gateway is only probed before
// the next full pass. A full pass inspects the container and renders its
// config; every 50 ms through a real gateway's 20 s boot that cost about
// a second of clawd's CPU and more of the engine's, taken from the boot on
// a small host. Crashes meanwhile are seen at the next full pass.
const probeWhileStarting = time.Second

// New makes a supervisor; Run starts it.
func New(cfg Config, rt runtime.Runtime, st Store) *Supervisor {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 30 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Supervisor{
		cfg:         cfg,
		rt:          rt,
		st:          st,
		log:         cfg.Logger,
		q:           newQueue(),
		client:      &http.Client{Timeout: 2 * time.Second},
		probeHeader: http.Header{"X-Forwarded-For": {openclawcfg.HostAddress()}},
		known:       map[string]namespace.Namespace{},
		tracks:      map[string]*track{},
		synced:      make(chan struct{}),
		running:     map[string]chan struct{}{},
	}
}

// Synced is closed once the first snapshot of the store has been queued.
func (s *Supervisor) Synced() <-chan struct{} { return s.synced }

// Run reconciles until ctx ends. It never stops or removes containers on
// the way out: tenants keep running while clawd restarts.
func (s *Supervisor) Run(ctx context.Context) {
	if cw, ok := s.st.(ConfigWatcher); ok {
		// The first gateways started should get their models right away,
		// not a config without them rewritten a moment later.
		first := make(chan struct{})
		go s.watchConfig(ctx, cw, first)
		select {
		case <-first:
		case <-time.After(10 * time.Second):
			s.log.Warn("no dynamic config from the store yet; gateways start with defaults until it comes")
		case <-ctx.Done():
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < s.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				name, ok := s.q.get()
				if !ok {
					return
				}
				s.reconcile(ctx, name)
				s.q.done(name)
			}
		}()
	}
	go s.watchStore(ctx)
	go s.watchRuntime(ctx)
	if s.cfg.Models != nil {
		go s.watchModels(ctx)
	}
	go s.resync(ctx)
	<-ctx.Done()
	s.q.close()
	wg.Wait()
}

func (s *Supervisor) watchStore(ctx context.Context) {
	once := sync.Once{}
	for ev := range s.st.WatchNamespaces(ctx) {
		switch ev.Type {
		case store.EventReset:
			s.mu.Lock()
			s.known = map[string]namespace.Namespace{}
			for _, ns := range ev.Snapshot {
				s.known[ns.Spec.Name] = ns
			}
			s.mu.Unlock()
			for _, ns := range ev.Snapshot {
				s.q.add(ns.Spec.Name)
			}
			once.Do(func() { close(s.synced) })
		case store.EventPut:
			s.mu.Lock()
			old, had := s.known[ev.Name]
			s.known[ev.Name] = ev.Namespace
			s.mu.Unlock()
			// Our own status writes come back here; only spec changes need a pass.
			if !had || specChanged(old.Spec, ev.Namespace.Spec) {
				s.q.add(ev.Name)
			}
		case store.EventDelete:
			s.mu.Lock()
			delete(s.known, ev.Name)
			delete(s.tracks, ev.Name)
			s.mu.Unlock()
		}
	}
}

// watchConfig keeps the latest dynamic config and has every namespace
// reconciled when it changes: each pass re-renders its gateway's config
// and rewrites it only if the bytes differ, and OpenClaw hot-reloads it.
func (s *Supervisor) watchConfig(ctx context.Context, cw ConfigWatcher, first chan<- struct{}) {
	once := sync.Once{}
	for m := range cw.WatchConfig(ctx) {
		s.mu.Lock()
		s.values = m
		s.mu.Unlock()
		once.Do(func() { close(first) })
		s.enqueueAll()
	}
}

// watchModels has every gateway's config rendered again when providers
// change; OpenClaw applies models.* without a restart.
func (s *Supervisor) watchModels(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.Models.Changes():
			s.enqueueAll()
		}
	}
}

func specChanged(a, b namespace.Spec) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) != string(jb)
}

func (s *Supervisor) watchRuntime(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		events, errs := s.rt.Events(ctx)
	stream:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					break stream
				}
				backoff = time.Second
				if ev.Namespace != "" {
					s.q.add(ev.Namespace)
				}
			case err := <-errs:
				if ctx.Err() == nil {
					s.log.Warn("runtime event stream broke; resyncing", "error", err)
				}
				break stream
			case <-ctx.Done():
				return
			}
		}
		// Whatever happened while the stream was down is caught by a full pass.
		s.enqueueAll()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *Supervisor) resync(ctx context.Context) {
	t := time.NewTicker(s.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.enqueueAll()
		case <-ctx.Done():
			return
		}
	}
}

func (s *Supervisor) enqueueAll() {
	s.mu.Lock()
	names := make([]string, 0, len(s.known))
	for n := range s.known {
		names = append(names, n)
	}
	s.mu.Unlock()
	for _, n := range names {
		s.q.add(n)
	}
}

func (s *Supervisor) get(name string) (namespace.Namespace, *track, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, ok := s.known[name]
	if !ok {
		return ns, nil, false
	}
	t := s.tracks[name]
	if t == nil {
		// After a restart of clawd, carry the crash count over from the store.
		t = &track{failures: ns.Status.Restarts, lastReason: ns.Status.Reason}
		s.tracks[name] = t
	}
	return ns, t, true
}

func (s *Supervisor) setStatus(ctx context.Context, name string, st namespace.Status) {
	s.mu.Lock()
	cur := s.known[name]
	s.mu.Unlock()
	old := cur.Status
	st.Node = s.cfg.Node
	st.WakeGeneration = cur.Spec.WakeGeneration
	if old.Phase == st.Phase && old.Reason == st.Reason && old.ContainerID == st.ContainerID &&
		old.Address == st.Address && old.Restarts == st.Restarts && old.Node == st.Node &&
		old.WakeGeneration == st.WakeGeneration {
		if st.Phase == namespace.PhaseRunning {
			// A wake that cancelled a sleep before it happened.
			s.runs(name)
		}
		return
	}
	st.Since = old.Since
	if old.Phase != st.Phase || st.Since.IsZero() {
		st.Since = time.Now().UTC()
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.st.PutStatus(cctx, name, st); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("writing status failed", "namespace", name, "error", err)
		}
		return
	}
	// Known before the waiters are released: they read the address here.
	s.mu.Lock()
	if ns, ok := s.known[name]; ok {
		ns.Status = st
		s.known[name] = ns
	}
	s.mu.Unlock()
	if st.Phase == namespace.PhaseRunning {
		s.runs(name)
	}
	if old.Phase != st.Phase {
		s.log.Info("phase changed", "namespace", name, "from", old.Phase, "to", st.Phase, "reason", st.Reason)
	}
}

// runs opens the router's gate to a namespace that runs and releases the
// wakes waiting for it.
func (s *Supervisor) runs(name string) {
	if s.cfg.Gate != nil {
		s.cfg.Gate.Open(name)
	}
	s.mu.Lock()
	if ch, ok := s.running[name]; ok {
		close(ch)
		delete(s.running, name)
	}
	s.mu.Unlock()
}

// reconcile makes one pass over one namespace. It never sleeps: anything
// that must happen later is re-queued with a delay.
func (s *Supervisor) reconcile(ctx context.Context, name string) {
	if ctx.Err() != nil {
		return
	}
	ns, t, ok := s.get(name)
	if !ok {
		return
	}
	if ns.Spec.Node != "" && ns.Spec.Node != s.cfg.Node {
		return
	}
	log := s.log.With("namespace", name)
	if ns.Spec.Deleting {
		s.remove(ctx, ns, log)
		return
	}
	if ns.Status.Phase == namespace.PhaseFailed && ns.Status.WakeGeneration == ns.Spec.WakeGeneration {
		return
	}
	if ns.Status.WakeGeneration != ns.Spec.WakeGeneration {
		// namespace wake: forget past crashes and try again now. The last
		// start is kept so the exit already counted is not counted again.
		*t = track{lastStarted: t.lastStarted}
	}

	if t.starting != "" && ns.Spec.Target == "" && time.Since(t.fullPass) < probeWhileStarting && !s.ready(ctx, t.starting) {
		s.q.addAfter(name, 50*time.Millisecond)
		return
	}
	t.starting, t.fullPass = "", time.Now()

	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	inst, err := s.rt.Inspect(cctx, name)
	missing := errors.Is(err, runtime.ErrNotFound)
	if err != nil && !missing {
		log.Warn("inspecting gateway failed", "error", err)
		s.q.addAfter(name, 2*time.Second)
		return
	}
	if ns.Spec.Target != "" {
		s.sleep(cctx, ns, t, inst, missing, log)
		return
	}
	t.drainSince = time.Time{}
	skills, err := s.hostSkills(name)
	switch {
	case err != nil && missing:
		log.Warn("cannot create the gateway", "error", err)
		s.setStatus(ctx, name, namespace.Status{Phase: namespace.PhasePending, Reason: err.Error()})
		s.q.addAfter(name, 30*time.Second) // a config change re-queues it sooner
		return
	case err != nil:
		log.Warn("skills.path not applied; the gateway keeps the skills it has", "error", err)
		skills = inst.HostSkills
	case !missing && !inst.Spare && inst.HostSkills != skills:
		// A container's mounts are fixed when it is made.
		log.Info("skills.path changed; re-creating the gateway", "from", inst.HostSkills, "to", skills)
		// Starting without an address: the router holds requests until
		// the new container is ready instead of sending them to the old.
		s.setStatus(ctx, name, namespace.Status{Phase: namespace.PhaseStarting, Restarts: t.failures, Reason: "re-creating the gateway for a new skills.path"})
		if err := s.rt.Stop(cctx, name, s.cfg.StopTimeout); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			log.Warn("stopping the gateway to re-create it failed; will retry", "error", err)
			s.q.addAfter(name, 2*time.Second)
			return
		}
		if err := s.rt.Remove(cctx, name, runtime.RemoveOptions{}); err != nil {
			log.Warn("removing the gateway to re-create it failed; will retry", "error", err)
			s.q.addAfter(name, 2*time.Second)
			return
		}
		inst, missing = runtime.Instance{}, true
	}
	if missing {
		if err := s.makeRoom(cctx, name, ns.Spec); err != nil {
			log.Warn("no memory for the gateway; will retry", "error", err)
			s.setStatus(ctx, name, namespace.Status{Phase: namespace.PhasePending, Reason: err.Error()})
			s.q.addAfter(name, 5*time.Second)
			return
		}
		inst, err = s.createOrAdopt(cctx, ns, skills, log)
		if err != nil {
			s.retry(ctx, ns, t, fmt.Sprintf("creating gateway: %v", err), log)
			return
		}
	} else if pr, ok := s.rt.(runtime.Pool); ok && inst.Spare {
		// clawd died halfway through an adoption: the name is already the
		// namespace's, so finish moving the gateway over.
		if inst, err = pr.Adopt(cctx, "", s.gatewaySpec(ns.Spec, skills)); err != nil {
			s.retry(ctx, ns, t, fmt.Sprintf("completing adoption of a warm gateway: %v", err), log)
			return
		}
		s.writeIdentity(cctx, name, log)
	}
	s.recordVolumes(cctx, ns, inst, log)
	if err := s.writeConfig(cctx, ns, inst, t, log); err != nil {
		if inst.State == runtime.StateCreated || inst.State == runtime.StateExited {
			// Never start a gateway without its config: it would not boot,
			// or boot with a stale one.
			s.retry(ctx, ns, t, err.Error(), log)
			return
		}
		log.Warn("updating the gateway's config failed; will retry", "error", err)
		s.q.addAfter(name, 5*time.Second)
	}

	status := namespace.Status{ContainerID: inst.ContainerID, Address: inst.Address, Restarts: t.failures, Reason: t.lastReason}
	switch inst.State {
	case runtime.StateRunning:
		if s.ready(cctx, inst.Address) {
			if t.readySince.IsZero() {
				t.readySince = time.Now()
			}
			if time.Since(t.readySince) > time.Minute && t.failures > 0 {
				// Stable again: the next crash starts a fresh backoff.
				t.failures, t.lastReason = 0, ""
				status.Restarts, status.Reason = 0, ""
			}
			status.Phase = namespace.PhaseRunning
			s.setStatus(ctx, name, status)
			if t.failures > 0 {
				s.q.addAfter(name, time.Minute)
			}
			return
		}
		t.readySince = time.Time{}
		if !inst.StartedAt.IsZero() && time.Since(inst.StartedAt) > s.cfg.StartTimeout {
			log.Warn("gateway not ready in time; restarting it", "start_timeout", s.cfg.StartTimeout)
			_ = s.rt.Stop(cctx, name, s.cfg.StopTimeout)
			s.countFailure(t, inst, fmt.Sprintf("not ready within %s", s.cfg.StartTimeout))
			s.q.add(name)
			return
		}
		status.Phase = namespace.PhaseStarting
		s.setStatus(ctx, name, status)
		t.starting = inst.Address
		s.q.addAfter(name, 50*time.Millisecond)
	case runtime.StatePaused:
		if err := s.rt.Unpause(cctx, name); err != nil {
			log.Warn("unpausing gateway failed", "error", err)
			s.q.addAfter(name, time.Second)
			return
		}
		// Frozen processes answer at once when thawed; no need to wait.
		s.q.add(name)
	case runtime.StateCreated, runtime.StateExited:
		t.readySince = time.Time{}
		// An exit we asked for (sleep to Stopped) is no crash.
		asked := ns.Status.Phase == namespace.PhaseStopped
		if !inst.StartedAt.IsZero() && !inst.StartedAt.Equal(t.lastStarted) && !asked {
			s.countFailure(t, inst, exitReason(inst, ns.Spec))
			log.Warn("gateway exited", "reason", t.lastReason, "failures", t.failures)
		}
		t.lastStarted = inst.StartedAt
		status.Restarts, status.Reason = t.failures, t.lastReason
		if t.failures >= s.cfg.MaxRestarts {
			status.Phase = namespace.PhaseFailed
			status.Reason = fmt.Sprintf("%s (gave up after %d failed starts; 'clawd namespace wake %s' retries)", t.lastReason, t.failures, name)
			s.setStatus(ctx, name, status)
			return
		}
		if wait := time.Until(t.nextStart); wait > 0 {
			status.Phase = namespace.PhaseStarting
			s.setStatus(ctx, name, status)
			s.q.addAfter(name, wait)
			return
		}
		if err := s.rt.Start(cctx, name); err != nil {
			s.retry(ctx, ns, t, fmt.Sprintf("starting gateway: %v", err), log)
			return
		}
		t.nextStart = time.Now().Add(s.backoff(t.failures))
		status.Phase = namespace.PhaseStarting
		s.setStatus(ctx, name, status)
		s.q.addAfter(name, 50*time.Millisecond)
	default:
		s.q.addAfter(name, time.Second)
	}
}

// sleep moves a namespace down to its target tier: Paused (cgroup freezer,
// memory kept), Stopped (SIGTERM, drain, kill; container kept) or Evicted
// (container and network removed, volumes kept). It never moves one up: a
// Stopped container stays stopped when the target is only Paused.
//
// The router's gate is shut first, so requests that come meanwhile wake
// the namespace instead of reaching a gateway on its way down. A stop
// drains open requests itself (SIGTERM, StopTimeout); a pause would freeze
// them, so it waits up to StopTimeout for them to end.
func (s *Supervisor) sleep(ctx context.Context, ns namespace.Namespace, t *track, inst runtime.Instance, missing bool, log hclog.Logger) {
	name, target := ns.Spec.Name, ns.Spec.Target
	st := namespace.Status{ContainerID: inst.ContainerID, Address: inst.Address, Restarts: ns.Status.Restarts}
	live := !missing && (inst.State == runtime.StateRunning || inst.State == runtime.StatePaused)
	if live && s.cfg.Gate != nil {
		open := s.cfg.Gate.Close(name)
		if target == namespace.PhasePaused && inst.State == runtime.StateRunning && open > 0 {
			if t.drainSince.IsZero() {
				t.drainSince = time.Now()
			}
			if time.Since(t.drainSince) < s.cfg.StopTimeout {
				s.q.addAfter(name, 100*time.Millisecond)
				return
			}
			log.Warn("pausing with requests still open; they resume when the namespace wakes", "open", open)
		}
	}
	t.drainSince = time.Time{}
	var err error
	switch {
	case missing:
		st = namespace.Status{Phase: namespace.PhaseEvicted}
	case target == namespace.PhaseEvicted:
		if err = s.rt.Stop(ctx, name, s.cfg.StopTimeout); err == nil {
			err = s.rt.Remove(ctx, name, runtime.RemoveOptions{})
		}
		st = namespace.Status{Phase: namespace.PhaseEvicted}
	case inst.State == runtime.StateExited || inst.State == runtime.StateCreated:
		st.Phase = namespace.PhaseStopped
	case target == namespace.PhaseStopped:
		err = s.rt.Stop(ctx, name, s.cfg.StopTimeout)
		st.Phase = namespace.PhaseStopped
	case inst.State == runtime.StatePaused:
		st.Phase = namespace.PhasePaused
	default:
		err = s.rt.Pause(ctx, name)
		st.Phase = namespace.PhasePaused
	}
	if err != nil {
		log.Warn("putting gateway to sleep failed; will retry", "target", target, "error", err)
		s.q.addAfter(name, 2*time.Second)
		return
	}
	s.setStatus(ctx, name, st)
}

// Sleep asks for a namespace to go down to target (Paused, Stopped or
// Evicted). The reconcile loop does the work.
func (s *Supervisor) Sleep(ctx context.Context, name string, target namespace.Phase) error {
	if !namespace.ValidTarget(target) {
		return fmt.Errorf("cannot sleep namespace %s to %q: use Paused, Stopped or Evicted", name, target)
	}
	spec, err := s.st.UpdateSpec(ctx, name, func(sp *namespace.Spec) error {
		if sp.Deleting {
			return fmt.Errorf("namespace %s is being deleted", name)
		}
		sp.Target = target
		return nil
	})
	if err != nil {
		return err
	}
	s.noteSpec(spec)
	return nil
}

// ErrFailed is returned by Wake for a namespace whose gateway keeps failing;
// only an operator's `namespace wake` retries it.
var ErrFailed = errors.New("gateway failed")

// Wake brings a namespace to Running and returns the address of its ready
// gateway. Concurrent wakes of one namespace share one attempt.
func (s *Supervisor) Wake(ctx context.Context, name string) (string, error) {
	ch := s.wakes.DoChan(name, func() (any, error) {
		// Detached from any one caller: a caller giving up must not cancel
		// the wake the others wait on.
		wctx, cancel := context.WithTimeout(context.Background(), s.cfg.StartTimeout)
		defer cancel()
		return s.wake(wctx, name)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (s *Supervisor) wake(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	ns, ok := s.known[name]
	s.mu.Unlock()
	switch {
	case !ok:
		return "", fmt.Errorf("namespace %s: %w", name, store.ErrNotFound)
	case ns.Spec.Deleting:
		return "", fmt.Errorf("namespace %s is being deleted", name)
	case ns.Spec.Suspended != nil:
		return "", fmt.Errorf("namespace %s is suspended: %s", name, ns.Spec.Suspended.Reason)
	case ns.Status.Phase == namespace.PhaseFailed && ns.Status.WakeGeneration == ns.Spec.WakeGeneration:
		return "", fmt.Errorf("namespace %s: %w: %s", name, ErrFailed, ns.Status.Reason)
	case ns.Spec.Target == "" && ns.Status.Phase == namespace.PhaseRunning && ns.Status.Address != "":
		return ns.Status.Address, nil
	}
	if !holdsMemory(ns.Status.Phase) {
		if err := s.makeRoom(ctx, name, ns.Spec); err != nil {
			return "", err
		}
	}
	s.mu.Lock()
	ch, ok := s.running[name]
	if !ok {
		ch = make(chan struct{})
		s.running[name] = ch
	}
	s.mu.Unlock()
	if ns.Spec.Target != "" {
		spec, err := s.st.UpdateSpec(ctx, name, func(sp *namespace.Spec) error {
			sp.Target = ""
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("waking namespace %s: %w", name, err)
		}
		s.noteSpec(spec)
	}
	s.q.add(name)
	select {
	case <-ch:
	case <-ctx.Done():
		return "", fmt.Errorf("namespace %s did not become ready in time: %w", name, ctx.Err())
	}
	s.mu.Lock()
	ns = s.known[name]
	s.mu.Unlock()
	return ns.Status.Address, nil
}

// noteSpec records a spec this supervisor just wrote, so the next pass acts
// on it without waiting for the store watch to echo it back.
func (s *Supervisor) noteSpec(spec namespace.Spec) {
	s.mu.Lock()
	if ns, ok := s.known[spec.Name]; ok {
		ns.Spec = spec
		s.known[spec.Name] = ns
	}
	s.mu.Unlock()
	s.q.add(spec.Name)
}

// Snapshot returns the namespaces this node runs, as last seen.
func (s *Supervisor) Snapshot() []namespace.Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]namespace.Namespace, 0, len(s.known))
	for _, ns := range s.known {
		if ns.Spec.Node == "" || ns.Spec.Node == s.cfg.Node {
			out = append(out, ns)
		}
	}
	return out
}

// createOrAdopt gives a namespace that never had a container a warm-pool
// gateway when one is ready, else creates one. A namespace with a skills
// directory from the host gets no spare: a spare cannot gain a mount.
func (s *Supervisor) createOrAdopt(ctx context.Context, ns namespace.Namespace, hostSkills string, log hclog.Logger) (runtime.Instance, error) {
	spec := s.gatewaySpec(ns.Spec, hostSkills)
	pr, canAdopt := s.rt.(runtime.Pool)
	if canAdopt && s.cfg.Pool != nil && ns.Spec.Warmup && ns.Spec.DataVolume == "" && hostSkills == "" {
		if spare, ok := s.cfg.Pool.Take(); ok {
			inst, err := pr.Adopt(ctx, spare.SpareID, spec)
			if err == nil {
				log.Info("adopted a warm gateway", "spare", spare.SpareID, "container", short(inst.ContainerID))
				s.writeIdentity(ctx, ns.Spec.Name, log)
				return inst, nil
			}
			s.cfg.Pool.Release(spare.SpareID)
			log.Warn("adopting a warm gateway failed; creating one", "spare", spare.SpareID, "error", err)
		}
	}
	inst, err := s.rt.Create(ctx, spec)
	if err == nil {
		log.Info("gateway created", "container", short(inst.ContainerID))
	}
	return inst, err
}

// writeIdentity tells an adopted gateway, started for no one, whose it is.
func (s *Supervisor) writeIdentity(ctx context.Context, name string, log hclog.Logger) {
	w, ok := s.rt.(runtime.StateWriter)
	if !ok {
		return
	}
	if err := w.WriteState(ctx, name, s.cfg.Gateway.Spec.StateDir+"/clawd-namespace", []byte(name+"\n")); err != nil {
		log.Warn("writing identity into the adopted gateway failed", "error", err)
	}
}

// recordVolumes stores which volumes the namespace's container mounts, so
// a re-create after eviction and a purge find them.
func (s *Supervisor) recordVolumes(ctx context.Context, ns namespace.Namespace, inst runtime.Instance, log hclog.Logger) {
	if inst.DataVolume == "" || (ns.Spec.DataVolume == inst.DataVolume && ns.Spec.SkillsVolume == inst.SkillsVolume) {
		return
	}
	spec, err := s.st.UpdateSpec(ctx, ns.Spec.Name, func(sp *namespace.Spec) error {
		sp.DataVolume, sp.SkillsVolume = inst.DataVolume, inst.SkillsVolume
		return nil
	})
	if err != nil {
		log.Warn("recording volumes failed", "error", err)
		return
	}
	s.noteSpec(spec)
}

func (s *Supervisor) countFailure(t *track, inst runtime.Instance, reason string) {
	t.failures++
	t.lastReason = reason
	t.lastStarted = inst.StartedAt
	t.nextStart = time.Now().Add(s.backoff(t.failures))
}

// retry records a failed runtime call and tries again after the backoff.
func (s *Supervisor) retry(ctx context.Context, ns namespace.Namespace, t *track, reason string, log hclog.Logger) {
	t.failures++
	t.lastReason = reason
	log.Warn("reconcile failed", "reason", reason, "failures", t.failures)
	st := namespace.Status{Phase: namespace.PhasePending, Restarts: t.failures, Reason: reason}
	if t.failures >= s.cfg.MaxRestarts {
		st.Phase = namespace.PhaseFailed
		s.setStatus(ctx, ns.Spec.Name, st)
		return
	}
	s.setStatus(ctx, ns.Spec.Name, st)
	s.q.addAfter(ns.Spec.Name, s.backoff(t.failures))
}

func (s *Supervisor) backoff(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := s.cfg.BackoffBase << min(failures-1, 16)
	return min(d, s.cfg.BackoffMax)
}

func (s *Supervisor) remove(ctx context.Context, ns namespace.Namespace, log hclog.Logger) {
	name := ns.Spec.Name
	s.setStatus(ctx, name, namespace.Status{Phase: namespace.PhaseDeleting, ContainerID: ns.Status.ContainerID})
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	opts := runtime.RemoveOptions{Volumes: ns.Spec.Purge, DataVolume: ns.Spec.DataVolume, SkillsVolume: ns.Spec.SkillsVolume}
	if err := s.rt.Remove(cctx, name, opts); err != nil {
		log.Warn("removing gateway failed; will retry", "error", err)
		s.q.addAfter(name, 2*time.Second)
		return
	}
	if err := s.st.DeleteNamespace(cctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("deleting namespace from store failed; will retry", "error", err)
		s.q.addAfter(name, 2*time.Second)
		return
	}
	log.Info("namespace deleted", "purge", ns.Spec.Purge)
}

func (s *Supervisor) ready(ctx context.Context, addr string) bool {
	return probe.ReadyWith(ctx, s.client, addr, s.cfg.Gateway.ReadyPath, s.probeHeader)
}

func exitReason(inst runtime.Instance, spec namespace.Spec) string {
	if inst.OOMKilled {
		if spec.MemoryBytes > 0 {
			return fmt.Sprintf("OOM killed: the gateway used its whole memory limit (%s)", units.FormatBytes(spec.MemoryBytes))
		}
		return "OOM killed"
	}
	r := fmt.Sprintf("exited with code %d", inst.ExitCode)
	if inst.Error != "" {
		r += ": " + inst.Error
	}
	return r
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
