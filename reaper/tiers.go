package reaper

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/units"
)

// Namespaces gives the namespaces this node runs.
type Namespaces interface {
	Snapshot() []namespace.Namespace
}

// Sleeper puts a namespace down to a tier.
type Sleeper interface {
	Sleep(ctx context.Context, name string, target namespace.Phase) error
}

// ConfigSource streams the dynamic configuration, latest state first.
type ConfigSource interface {
	WatchConfig(ctx context.Context) <-chan map[string]string
}

// Tiers is the idle reaper: every interval it compares each namespace's
// idle time with its tier thresholds and asks for the deepest tier reached.
type Tiers struct {
	nss      Namespaces
	sleeper  Sleeper
	activity *Activity
	interval time.Duration
	log      hclog.Logger

	mu        sync.Mutex
	values    map[string]string
	firstSeen map[string]time.Time
	started   time.Time
}

// NewTiers makes the idle reaper; Run starts it.
func NewTiers(nss Namespaces, sleeper Sleeper, activity *Activity, interval time.Duration, log hclog.Logger) *Tiers {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Tiers{nss: nss, sleeper: sleeper, activity: activity, interval: interval, log: log,
		values: map[string]string{}, firstSeen: map[string]time.Time{}, started: time.Now()}
}

// Run passes over the namespaces until ctx ends.
func (t *Tiers) Run(ctx context.Context, src ConfigSource) {
	go func() {
		for v := range src.WatchConfig(ctx) {
			t.mu.Lock()
			t.values = v
			t.mu.Unlock()
		}
	}()
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t.pass(ctx, now)
		}
	}
}

func (t *Tiers) pass(ctx context.Context, now time.Time) {
	t.mu.Lock()
	values := t.values
	t.mu.Unlock()
	seen := map[string]bool{}
	for _, ns := range t.nss.Snapshot() {
		name := ns.Spec.Name
		seen[name] = true
		first, ok := t.firstSeen[name]
		if !ok {
			first = now
			t.firstSeen[name] = now
		}
		last, active := t.activity.Last(name)
		target := Decide(ns, Policy(values, ns), Idle{Last: last, Active: active, FirstSeen: first}, now)
		if target == "" {
			continue
		}
		t.log.Info("namespace idle; putting it to sleep", "namespace", name, "target", target, "idle_since", idleSince(ns, Idle{Last: last, FirstSeen: first}).Format(time.RFC3339))
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := t.sleeper.Sleep(cctx, name, target); err != nil {
			t.log.Warn("putting namespace to sleep failed", "namespace", name, "target", target, "error", err)
		}
		cancel()
	}
	for name := range t.firstSeen {
		if !seen[name] {
			delete(t.firstSeen, name)
		}
	}
}

// IdlePolicy is one namespace's effective tier configuration.
type IdlePolicy struct {
	Enabled    bool // autoCleanup.enabled
	PauseAfter time.Duration
	// CompressAfter is idle.compressAfter: paused and squeezed into zram.
	CompressAfter time.Duration
	StopAfter     time.Duration // autoCleanup.after
	EvictAfter    time.Duration
	MinInstances  int
}

// Policy resolves a namespace's policy from the dynamic configuration:
// namespaces.<ns>.KEY, else namespaces.*.KEY, else the default.
func Policy(values map[string]string, ns namespace.Namespace) IdlePolicy {
	name := ns.Spec.Name
	dur := func(leaf string) time.Duration {
		v, _ := config.Effective(values, name, leaf)
		d, err := units.ParseDuration(v)
		if err != nil {
			return 0 // unset or unparsable: this tier is off
		}
		return d
	}
	p := IdlePolicy{
		PauseAfter:    dur("idle.pauseAfter"),
		CompressAfter: dur("idle.compressAfter"),
		StopAfter:     dur("autoCleanup.after"),
		EvictAfter:    dur("idle.evictAfter"),
		MinInstances:  ns.Spec.MinInstances,
	}
	enabled, _ := config.Effective(values, name, "autoCleanup.enabled")
	p.Enabled = enabled != "false"
	// A minInstances set with config set wins over the create flag.
	if _, ok := values["namespaces."+name+".minInstances"]; ok || values["namespaces.*.minInstances"] != "" {
		v, _ := config.Effective(values, name, "minInstances")
		p.MinInstances = 0
		if v == "1" {
			p.MinInstances = 1
		}
	}
	return p
}

// Idle is what the tracker knows about a namespace's traffic.
type Idle struct {
	Last      time.Time // last request end (zero: none since clawd started)
	Active    int64     // open requests, WebSockets, streams
	FirstSeen time.Time // when this reaper first saw the namespace
}

func idleSince(ns namespace.Namespace, idle Idle) time.Time {
	since := idle.FirstSeen
	if sleeping := ns.Status.Phase == namespace.PhasePaused || ns.Status.Phase == namespace.PhaseCompressed || ns.Status.Phase == namespace.PhaseStopped; sleeping &&
		!ns.Status.Since.IsZero() && ns.Status.Since.Before(since) {
		// Any request wakes a sleeping namespace, so it has been idle at
		// least since it went to sleep, even if this reaper (a restarted
		// clawd) first saw it later.
		since = ns.Status.Since
	}
	for _, t := range []time.Time{idle.Last, ns.Spec.CreatedAt} {
		if t.After(since) {
			since = t
		}
	}
	// A wake by hand (no request) also starts the idle clock.
	if ns.Status.Phase == namespace.PhaseRunning && ns.Status.Since.After(since) {
		since = ns.Status.Since
	}
	return since
}

// Decide returns the tier a namespace should go down to now, or "" to
// leave it. It only ever deepens: waking is the router's and operator's job.
func Decide(ns namespace.Namespace, p IdlePolicy, idle Idle, now time.Time) namespace.Phase {
	switch ns.Status.Phase {
	case namespace.PhaseRunning, namespace.PhasePaused, namespace.PhaseCompressed, namespace.PhaseStopped:
	default:
		return "" // starting, failed, deleting, evicted: nothing to do
	}
	if ns.Spec.Deleting || !p.Enabled || p.MinInstances >= 1 || idle.Active > 0 {
		return ""
	}
	d := now.Sub(idleSince(ns, idle))
	var target namespace.Phase
	switch {
	case p.EvictAfter > 0 && d >= p.EvictAfter:
		target = namespace.PhaseEvicted
	case p.StopAfter > 0 && d >= p.StopAfter:
		target = namespace.PhaseStopped
	case p.CompressAfter > 0 && d >= p.CompressAfter:
		target = namespace.PhaseCompressed
	case p.PauseAfter > 0 && d >= p.PauseAfter:
		target = namespace.PhasePaused
	}
	if namespace.Depth(target) <= namespace.Depth(ns.Spec.Target) {
		return ""
	}
	return target
}
