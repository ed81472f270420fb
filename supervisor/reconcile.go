package supervisor

import (
	"github.com/hashicorp/go-hclog"

	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/probe"
	"github.com/clawd-dev/clawd/runtime"
)

// track is the supervisor's memory of one namespace's starts and crashes.
type track struct {
	failures    int       // consecutive failed starts
	nextStart   time.Time // not before this (backoff)
	lastReason  string
	lastStarted time.Time // StartedAt of the container we last counted
	readySince  time.Time
	lastExit    time.Time // FinishedAt of the exit last counted
	logTail     []string  // the last counted crash's log lines
	ooms        []time.Time
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
	// caps are the CPU, memory and pids caps last applied to container
	// capsIn, so a quota change reaches a running gateway once.
	caps   [3]int64
	capsIn string
	// volumes is what prepareVolumes last made ready (container, binds,
	// caps, encryption), so a live gateway's pass skips it until it changes.
	volumes string
	// residentIn is the container last kept out of swap (keepOutOfSwap).
	residentIn string
}

// probeWhileStarting is how long a booting gateway is only probed before
// the next full pass. A full pass inspects the container and renders its
// config; every 50 ms through a real gateway's 20 s boot that cost about
// a second of clawd's CPU and more of the engine's, taken from the boot on
// a small host. Crashes meanwhile are seen at the next full pass.
const probeWhileStarting = time.Second

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
	if s.fenced() {
		s.q.addAfter(name, 2*time.Second)
		return
	}
	log := s.log.With("namespace", name)
	if ns.Spec.Deleting {
		s.remove(ctx, ns, log)
		return
	}
	if ns.Status.WakeGeneration != ns.Spec.WakeGeneration {
		// namespace wake: forget past crashes and try again now. The last
		// start is kept so the exit already counted is not counted again,
		// and the OOM kills so "3rd time today" stays true.
		*t = track{lastStarted: t.lastStarted, ooms: t.ooms}
	} else if ns.Status.Phase == namespace.PhaseFailed && ns.Spec.Target == "" {
		// Failed waits for its next try without touching the engine: a
		// crash loop must not eat it from the neighbours.
		if wait := time.Until(t.nextStart); wait > 0 {
			s.q.addAfter(name, wait)
			return
		}
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
	s.engineSeen()
	s.forgiveEngineExit(t, log)
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
	case err != nil && (inst.State == runtime.StateCreated || inst.State == runtime.StateExited):
		// Docker resolves a bind mount's source again at every start: a
		// directory since swapped for a symlink would mount its target.
		log.Warn("not starting the gateway", "error", err)
		s.setStatus(ctx, name, namespace.Status{Phase: namespace.PhasePending, ContainerID: inst.ContainerID, Restarts: t.failures, Reason: "not started: " + err.Error()})
		s.q.addAfter(name, 30*time.Second) // a config change re-queues it sooner
		return
	case err != nil:
		// A running or paused gateway's mount was made when it started;
		// its next start is refused.
		log.Warn("skills.path no longer valid; the gateway keeps the directory it has until it stops", "error", err)
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
	if !s.prepareVolumes(cctx, ns, t, &inst, &missing, log) {
		return
	}
	if missing || inst.State == runtime.StateCreated || inst.State == runtime.StateExited {
		if err := s.overSkillsQuota(cctx, ns.Spec, skills, log); err != nil {
			reason := "not started: " + err.Error()
			if ns.Status.Reason != reason {
				log.Warn("not starting the gateway", "error", err)
			}
			s.setStatus(ctx, name, namespace.Status{Phase: namespace.PhasePending, ContainerID: inst.ContainerID, Restarts: t.failures, Reason: reason})
			s.q.addAfter(name, 30*time.Second) // a quota change re-queues it sooner
			return
		}
	}
	if missing {
		if !s.admit(cctx, ns, t.failures, log) {
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

	if inst.State == runtime.StateRunning || inst.State == runtime.StatePaused {
		s.updateCaps(cctx, ns, inst, t, skills, log)
	}

	status := namespace.Status{ContainerID: inst.ContainerID, Address: inst.Address, Restarts: t.failures, Reason: t.lastReason, LogTail: t.logTail}
	switch inst.State {
	case runtime.StateRunning:
		if s.ready(cctx, inst.Address) {
			if t.readySince.IsZero() {
				t.readySince = time.Now()
			}
			if t.failures > 0 && s.stable(t, time.Now()) {
				// Stable again: the next crash starts a fresh backoff.
				t.failures, t.lastReason, t.logTail = 0, "", nil
				status.Restarts, status.Reason, status.LogTail = 0, "", nil
			}
			status.Phase = namespace.PhaseRunning
			s.keepOutOfSwap(cctx, ns, inst, t, log)
			s.setStatus(ctx, name, status)
			if t.failures > 0 {
				s.q.addAfter(name, time.Until(t.readySince.Add(s.cfg.StablePeriod)))
			}
			return
		}
		t.readySince = time.Time{}
		if !inst.StartedAt.IsZero() && time.Since(inst.StartedAt) > s.cfg.StartTimeout {
			log.Warn("gateway not ready in time; restarting it", "start_timeout", s.cfg.StartTimeout)
			_ = s.rt.Stop(cctx, name, s.cfg.StopTimeout)
			s.countFailure(t, inst, fmt.Sprintf("not ready within %s", s.cfg.StartTimeout), nil)
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
		s.thawed(cctx, ns, log)
		// Frozen processes answer at once when thawed; no need to wait.
		s.q.add(name)
	case runtime.StateCreated, runtime.StateExited:
		// An exit we asked for (sleep to Stopped) is no crash, nor is one
		// the engine caused by going down.
		asked := ns.Status.Phase == namespace.PhaseStopped
		if !inst.StartedAt.IsZero() && !inst.StartedAt.Equal(t.lastStarted) && !asked {
			switch {
			case s.byEngine(inst.FinishedAt):
				log.Info("gateway stopped with the container engine; not counted as its failure", "exit_code", inst.ExitCode)
			case t.lastStarted.IsZero() && !inst.FinishedAt.IsZero() && inst.FinishedAt.Before(s.started):
				// A reboot stops every gateway while clawd is down too; a
				// gateway that really crash-loops shows it again at once.
				log.Info("gateway stopped while clawd was down (a restart of the host or engine?); not counted as its failure", "exit_code", inst.ExitCode, "finished_at", inst.FinishedAt)
			default:
				reason, tail := s.exitReason(cctx, inst, ns.Spec, t, log)
				s.countFailure(t, inst, reason, tail)
				log.Warn("gateway exited", "reason", t.lastReason, "failures", t.failures)
			}
		}
		t.readySince = time.Time{}
		t.lastStarted = inst.StartedAt
		status.Restarts, status.Reason, status.LogTail = t.failures, t.lastReason, t.logTail
		if wait := time.Until(t.nextStart); wait > 0 {
			status.Phase = namespace.PhaseStarting
			if t.failures >= s.cfg.MaxRestarts {
				status = s.failedStatus(name, t, status)
			}
			s.setStatus(ctx, name, status)
			s.q.addAfter(name, wait)
			return
		}
		if !holdsMemory(ns.Status.Phase) && !s.admit(cctx, ns, t.failures, log) {
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

func (s *Supervisor) ready(ctx context.Context, addr string) bool {
	return probe.ReadyWith(ctx, s.client, addr, s.cfg.Gateway.ReadyPath, s.probeHeader)
}

// updateCaps brings a live gateway's cgroup caps to its spec's (a quota
// changed): once per change and container. A refusal (a memory cap below
// what the gateway uses) is logged and tried again at the next pass; the
// next container gets the caps anyway.
func (s *Supervisor) updateCaps(ctx context.Context, ns namespace.Namespace, inst runtime.Instance, t *track, skills string, log hclog.Logger) {
	cu, ok := s.rt.(runtime.CapUpdater)
	if !ok {
		return
	}
	spec := s.gatewaySpec(ns.Spec, skills)
	want := [3]int64{spec.NanoCPUs, spec.MemoryBytes, spec.PidsLimit}
	if t.capsIn == inst.ContainerID && t.caps == want {
		return
	}
	if err := cu.UpdateCaps(ctx, spec); err != nil {
		log.Warn("the gateway keeps its caps for now", "error", err)
		return
	}
	t.caps, t.capsIn = want, inst.ContainerID
}
