package supervisor

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/units"
)

// Swap is the compressed swap the Compressed tier squeezes frozen gateways
// into (zram.Device).
type Swap interface {
	// Unavailable is "" when the tier can be used, else why not.
	Unavailable() string
	// Compressed estimates what a cgroup's swapped bytes take in the pool.
	Compressed(swapped uint64) uint64
}

// notCompressed starts the reason of a namespace asked to be Compressed
// that stays Paused: it is not tried again until it wakes.
const notCompressed = "paused, not compressed: "

// squeezeFrees is the share of a Paused namespace's charge that squeezing
// it is counted to free when choosing victims: a real gateway keeps about
// 0.3 of what it used (MEASURED.md), and it uses no more than its cap.
func squeezeFrees(need int64) int64 { return need * 2 / 3 }

// swapUnavailable says why the Compressed tier cannot be used, "" when it can.
func (s *Supervisor) swapUnavailable() string {
	if _, ok := s.rt.(runtime.Squeezer); !ok {
		return "the runtime cannot squeeze gateways"
	}
	if s.cfg.Swap == nil {
		return "no zram swap device"
	}
	return s.cfg.Swap.Unavailable()
}

// compress moves a namespace to Compressed: the gateway is paused (if it
// is not yet), then its frozen cgroup squeezed into zram. Without the tier,
// or when the squeeze fails, it stays Paused and says why; a namespace
// already Compressed stays as it is (a restart of clawd finds it so).
func (s *Supervisor) compress(ctx context.Context, ns namespace.Namespace, inst runtime.Instance, st namespace.Status, log hclog.Logger) (namespace.Status, error) {
	name := ns.Spec.Name
	if inst.State == runtime.StatePaused && (ns.Status.Phase == namespace.PhaseCompressed ||
		(ns.Status.Phase == namespace.PhasePaused && strings.HasPrefix(ns.Status.Reason, notCompressed))) {
		st.Phase, st.Reason = ns.Status.Phase, ns.Status.Reason
		st.ResidentBytes, st.CompressedBytes = ns.Status.ResidentBytes, ns.Status.CompressedBytes
		return st, nil
	}
	if inst.State == runtime.StateRunning {
		if err := s.rt.Pause(ctx, name); err != nil {
			return st, err
		}
	}
	st.Phase = namespace.PhasePaused
	if why := s.swapUnavailable(); why != "" {
		st.Reason = notCompressed + why
		return st, nil
	}
	start := time.Now()
	m, err := s.squeeze(ctx, name, inst.Address, warmHost(ns), log)
	if err != nil {
		log.Warn("squeezing the paused gateway into zram failed; it stays Paused", "error", err)
		st.Reason = notCompressed + err.Error()
		return st, nil
	}
	st.Phase = namespace.PhaseCompressed
	st.ResidentBytes = int64(m.Resident)
	st.CompressedBytes = int64(s.cfg.Swap.Compressed(m.Swapped))
	log.Info("gateway squeezed into zram", "resident", units.FormatBytes(st.ResidentBytes),
		"swapped", units.FormatBytes(int64(m.Swapped)), "compressed", units.FormatBytes(st.CompressedBytes), "took", time.Since(start).Round(time.Millisecond))
	return st, nil
}

// squeeze squeezes the paused gateway twice, with the gateway thawed
// between for a ready probe and a WebSocket connect (warm): what the kernel
// keeps is what was used last, and right after a long freeze that is not
// what a wake needs (a thawed Node process first runs its overdue timers,
// then answers). Measured on the real gateway with 128 MiB kept, a first
// wake read ~70 MiB back from zram and took seconds; after one wake, under
// a millisecond's worth. The thaw in between pays that once, while the
// namespace goes to sleep, instead of at its tenant's next request, and the
// connect makes the kept pages those of a client's first exchange rather
// than only the probe's. The router's gate is shut, so no request reaches
// the gateway meanwhile.
func (s *Supervisor) squeeze(ctx context.Context, name, addr, host string, log hclog.Logger) (runtime.Memory, error) {
	sq := s.rt.(runtime.Squeezer)
	keep := uint64(max(s.cfg.SqueezeKeep, 0))
	m, err := sq.Squeeze(ctx, name, keep)
	if err != nil || addr == "" {
		return m, err
	}
	if err := s.rt.Unpause(ctx, name); err != nil {
		return m, err
	}
	if s.ready(ctx, addr) {
		warm(ctx, addr, host)
	}
	if err := s.rt.Pause(ctx, name); err != nil {
		return runtime.Memory{}, err
	}
	return sq.Squeeze(ctx, name, keep)
}

// warmHost is the hostname the warming connect names: the namespace's
// first, as a request routed by hostname would.
func warmHost(ns namespace.Namespace) string {
	if len(ns.Spec.Hostnames) > 0 {
		return ns.Spec.Hostnames[0]
	}
	return ns.Spec.Name
}

// thawed closes swap to a gateway that was Compressed again once it runs:
// its pages come back as it touches them, and none go out while it is
// awake. Best effort: the squeeze already left it with swappiness 0.
func (s *Supervisor) thawed(ctx context.Context, ns namespace.Namespace, log hclog.Logger) {
	sq, ok := s.rt.(runtime.Squeezer)
	if !ok || ns.Status.Phase != namespace.PhaseCompressed {
		return
	}
	if err := sq.KeepResident(ctx, ns.Spec.Name); err != nil {
		log.Warn("closing swap to the woken gateway failed", "error", err)
	}
}

// keepOutOfSwap closes swap to a running gateway once per container, while
// clawd's zram swap exists: a capped one has none already (its swap limit
// is its memory cap), an uncapped one would otherwise share the host's
// swappiness, and an awake tenant's latency must never depend on swap.
func (s *Supervisor) keepOutOfSwap(ctx context.Context, ns namespace.Namespace, inst runtime.Instance, t *track, log hclog.Logger) {
	sq, ok := s.rt.(runtime.Squeezer)
	if !ok || t.residentIn == inst.ContainerID || s.swapUnavailable() != "" {
		return
	}
	if err := sq.KeepResident(ctx, ns.Spec.Name); err != nil {
		log.Warn("closing swap to the gateway failed; will retry", "error", err)
		return
	}
	t.residentIn = inst.ContainerID
}

// charge is what a namespace counts against the memory budget while it
// sleeps Compressed: what it holds in RAM and in the zram pool.
func charge(st namespace.Status) int64 {
	return st.ResidentBytes + st.CompressedBytes
}

// squeezeVictimsLocked chooses the least recently used Paused namespaces
// whose squeeze makes room for need, counting each to free
// squeezeFrees of its charge; nil when squeezing every one would not do
// (then namespaces are stopped instead). s.mu must be held.
func (s *Supervisor) squeezeVictimsLocked(name string, need int64) []namespace.Namespace {
	if s.swapUnavailable() != "" {
		return nil
	}
	short := s.usedLocked(name) + need - s.cfg.MemoryBudget
	var out []namespace.Namespace
	for _, v := range s.goingDownLocked(name) {
		if short <= 0 {
			break
		}
		out = append(out, v)
		short -= s.need(v.Spec)
	}
	for _, v := range s.lruVictimsLocked(name) {
		if short <= 0 {
			break
		}
		if v.Status.Phase != namespace.PhasePaused || strings.HasPrefix(v.Status.Reason, notCompressed) {
			continue
		}
		out = append(out, v)
		short -= squeezeFrees(s.need(v.Spec))
	}
	if short > 0 {
		return nil
	}
	return out
}

// squeezeFailed reports whether a victim asked to be Compressed stayed
// Paused: the namespace waiting for it must choose again.
func squeezeFailed(ns namespace.Namespace) bool {
	return ns.Spec.Target == namespace.PhaseCompressed && ns.Status.Phase == namespace.PhasePaused &&
		strings.HasPrefix(ns.Status.Reason, notCompressed)
}
