package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

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
		if (target == namespace.PhasePaused || target == namespace.PhaseCompressed) && inst.State == runtime.StateRunning && open > 0 {
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
	case target == namespace.PhaseCompressed || (ns.Status.Phase == namespace.PhaseCompressed && inst.State == runtime.StatePaused):
		st, err = s.compress(ctx, ns, inst, st, log)
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
	if st.Phase == namespace.PhaseStopped || st.Phase == namespace.PhaseEvicted {
		s.lockVolumes(ctx, name, log)
	}
	s.setStatus(ctx, name, st)
}

// Sleep asks for a namespace to go down to target (Paused, Compressed,
// Stopped or Evicted). The reconcile loop does the work.
func (s *Supervisor) Sleep(ctx context.Context, name string, target namespace.Phase) error {
	if !namespace.ValidTarget(target) {
		return fmt.Errorf("cannot sleep namespace %s to %q: use Paused, Compressed, Stopped or Evicted", name, target)
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
