package metering

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

// Namespaces lists the namespaces this node runs (the supervisor's view).
type Namespaces interface {
	Snapshot() []namespace.Namespace
}

// Cgroups reads a running gateway's cgroup.
type Cgroups interface {
	Stats(ctx context.Context, ns string) (runtime.Stats, error)
}

// Disks measures a namespace's volumes on this host.
type Disks interface {
	DiskUsage(ctx context.Context, ns, dataVolume, skillsVolume string) (int64, error)
}

// Observer sees every cgroup reading of a running gateway (the console's
// resource history, resources.History), whether or not metering is on.
type Observer interface {
	Observe(ns, container string, at time.Time, st runtime.Stats)
}

// SamplerConfig wires a Sampler.
type SamplerConfig struct {
	Node string
	// Observer, if set, gets each compute reading.
	Observer Observer
	// Compute is how often cgroups are read (default 15s); Storage how
	// often volumes are measured (default 5m).
	Compute, Storage time.Duration
	Logger           hclog.Logger
}

// Sampler turns the cgroups and volumes of this node's gateways into
// compute and storage events:
//   - CPU: the growth of the cgroup's CPU time since the last reading of
//     the same container; a container seen for the first time counts its
//     whole CPU time, except right after clawd starts, when the first
//     reading is the baseline (the time since the last reading before the
//     restart, at most one interval, is not counted).
//   - Memory: the working set (usage less inactive file cache) times the
//     time since the last reading, while the gateway runs. A paused,
//     stopped or evicted gateway uses no compute.
//   - Storage: the bytes its volumes take, sampled whatever its phase;
//     the ledger keeps each hour's largest sample.
type Sampler struct {
	cfg   SamplerConfig
	meter *Meter
	nss   Namespaces
	cg    Cgroups
	disks Disks
	log   hclog.Logger

	last    map[string]reading // namespace → its gateway's last reading
	started bool               // a first round has run since clawd started
	// measured are the namespaces whose volumes were measured since clawd
	// started: a new one is measured at the next compute round, not a
	// storage interval later.
	measured map[string]bool
}

type reading struct {
	container string
	cpu       time.Duration
	at        time.Time
}

// NewSampler returns a sampler; disks may be nil (no storage samples).
func NewSampler(cfg SamplerConfig, m *Meter, nss Namespaces, cg Cgroups, disks Disks) *Sampler {
	if cfg.Compute <= 0 {
		cfg.Compute = 15 * time.Second
	}
	if cfg.Storage <= 0 {
		cfg.Storage = 5 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Sampler{cfg: cfg, meter: m, nss: nss, cg: cg, disks: disks, log: log, last: map[string]reading{}, measured: map[string]bool{}}
}

// Run samples until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	compute := time.NewTicker(s.cfg.Compute)
	defer compute.Stop()
	storage := time.NewTicker(s.cfg.Storage)
	defer storage.Stop()
	s.Compute(ctx, time.Now())
	s.Storage(ctx, time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-compute.C:
			s.Compute(ctx, now)
		case now := <-storage.C:
			s.Storage(ctx, now)
		}
	}
}

// local reports whether this node holds ns's gateway.
func (s *Sampler) local(ns namespace.Namespace) bool {
	if ns.Status.Node != "" {
		return ns.Status.Node == s.cfg.Node
	}
	return ns.Spec.Node == "" || ns.Spec.Node == s.cfg.Node
}

// Compute reads every running gateway's cgroup once.
func (s *Sampler) Compute(ctx context.Context, now time.Time) {
	metered := s.meter.Enabled()
	if !metered {
		s.last = map[string]reading{}
		s.started = true
		if s.cfg.Observer == nil {
			return
		}
	}
	seen := map[string]bool{}
	for _, ns := range s.nss.Snapshot() {
		name := ns.Spec.Name
		if !s.local(ns) {
			continue
		}
		seen[name] = true
		if ns.Status.Phase != namespace.PhaseRunning || ns.Status.ContainerID == "" {
			// Paused or down: no compute. Keep the CPU baseline, and
			// start the memory clock again from now.
			if r, ok := s.last[name]; ok {
				r.at = now
				s.last[name] = r
			}
			continue
		}
		st, err := s.cg.Stats(ctx, name)
		if err != nil {
			s.log.Debug("no compute sample", "namespace", name, "error", err)
			continue
		}
		if s.cfg.Observer != nil {
			s.cfg.Observer.Observe(name, ns.Status.ContainerID, now, st)
		}
		if !metered {
			continue
		}
		if e, ok := s.account(name, ns.Status.ContainerID, st, now); ok {
			s.meter.Add(e)
		}
	}
	for name := range s.last {
		if !seen[name] {
			delete(s.last, name)
		}
	}
	for name := range s.measured {
		if !seen[name] {
			delete(s.measured, name)
		}
	}
	s.storage(ctx, now, func(name string) bool { return !s.measured[name] })
	s.started = true
}

// account turns one reading into an event against the last one.
func (s *Sampler) account(name, container string, st runtime.Stats, now time.Time) (ledger.Event, bool) {
	prev, had := s.last[name]
	s.last[name] = reading{container: container, cpu: st.CPUUsage, at: now}
	e := ledger.Event{ID: s.meter.newID("s"), Time: now, Namespace: name}
	switch {
	case had && prev.container == container && st.CPUUsage >= prev.cpu:
		e.CPUMicros = (st.CPUUsage - prev.cpu).Microseconds()
	case had || s.started:
		// A new container (or the same one restarted, its counter reset):
		// all of its CPU time is new.
		e.CPUMicros = st.CPUUsage.Microseconds()
	default:
		// clawd just started: this reading is the baseline.
	}
	if had && prev.container == container {
		// Memory held since the last reading, capped at two intervals so
		// a stalled sampler does not bill a guess.
		d := min(now.Sub(prev.at), 2*s.cfg.Compute)
		if d > 0 {
			e.MemoryMiBSeconds = int64(st.MemoryWorkingSet) * d.Milliseconds() / (1 << 20 * 1000)
		}
	}
	return e, e.CPUMicros > 0 || e.MemoryMiBSeconds > 0
}

// Storage measures every local namespace's volumes once.
func (s *Sampler) Storage(ctx context.Context, now time.Time) {
	s.storage(ctx, now, func(string) bool { return true })
}

// storage measures the volumes of the local namespaces want picks.
func (s *Sampler) storage(ctx context.Context, now time.Time, want func(string) bool) {
	if s.disks == nil || !s.meter.Enabled() {
		return
	}
	for _, ns := range s.nss.Snapshot() {
		name := ns.Spec.Name
		if !s.local(ns) || ns.Status.Phase == namespace.PhaseDeleting || ns.Spec.Deleting || !want(name) {
			continue
		}
		n, err := s.disks.DiskUsage(ctx, name, ns.Spec.DataVolume, ns.Spec.SkillsVolume)
		if err != nil {
			s.log.Debug("no storage sample", "namespace", name, "error", err)
			continue
		}
		s.measured[name] = true
		if n > 0 {
			s.meter.Add(ledger.Event{ID: s.meter.newID("d"), Time: now, Namespace: name, StorageBytes: n})
		}
	}
}
