package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/volumes"
)

// Volumes gives namespaces with storage caps or encryption their own
// filesystems on this host (volumes.Manager). Roles are "data" and
// "skills".
type Volumes interface {
	// BindsFor returns the host directories the namespace's gateway
	// mounts at its state and skills dirs; "" keeps the Docker volume.
	BindsFor(spec namespace.Spec, values map[string]string) (data, skills string)
	// Prepare makes them ready for the gateway to start: mounted, grown,
	// unlocked. stopped says the gateway is not running; what needs it
	// stopped otherwise is volumes.ErrNeedsStop.
	Prepare(ctx context.Context, spec namespace.Spec, values map[string]string, stopped bool) error
	// Import moves a Docker volume's files (at from) onto the namespace's
	// volume for role, once.
	Import(ctx context.Context, ns, role, from string) error
	// Lock removes the namespace's data key from the kernel.
	Lock(ctx context.Context, ns string) error
	// Remove unmounts the namespace's volumes, deleting them with purge.
	Remove(ctx context.Context, ns string, purge bool) error
}

// volumeBinds is gatewaySpec's part: where the gateway's volumes are.
func (s *Supervisor) volumeBinds(spec namespace.Spec) (data, skills string) {
	if s.cfg.Volumes == nil {
		return "", ""
	}
	return s.cfg.Volumes.BindsFor(spec, s.valuesNow())
}

func (s *Supervisor) valuesNow() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values
}

// prepareVolumes readies a namespace's capped or encrypted volumes before
// its gateway is made or started, and whenever what they should be
// changed (a quota grew, encryption was turned on). A container made
// with other mounts (a Docker volume before the namespace had a cap) is
// stopped, its files moved onto the new volume and the container removed,
// to be made again with the new mounts. It reports false when the pass
// must end here (it has re-queued or recorded a retry).
func (s *Supervisor) prepareVolumes(ctx context.Context, ns namespace.Namespace, t *track, inst *runtime.Instance, missing *bool, log hclog.Logger) bool {
	v := s.cfg.Volumes
	if v == nil {
		return true
	}
	name := ns.Spec.Name
	values := s.valuesNow()
	data, skills := v.BindsFor(ns.Spec, values)
	if data == "" && skills == "" && (*missing || (inst.DataBind == "" && inst.SkillsBind == "")) {
		return true
	}
	live := !*missing && (inst.State == runtime.StateRunning || inst.State == runtime.StatePaused)
	remake := !*missing && !inst.Spare && (inst.DataBind != data || inst.SkillsBind != skills)
	enc, _ := config.Effective(values, name, "encryption.enabled")
	want := fmt.Sprintf("%s|%s|%s|%v", inst.ContainerID, data, skills, enc)
	if q := ns.Spec.Quota; q != nil {
		want += fmt.Sprintf("|%d|%d", q.StorageData, q.StorageSkills)
	}
	if live && !remake && t.volumes == want {
		return true
	}
	if live && remake {
		if !s.stopForVolumes(ctx, ns, t, inst, "moving the gateway's data onto its new volume", log) {
			return false
		}
		live = false
	}
	start := time.Now()
	err := v.Prepare(ctx, ns.Spec, values, !live)
	if errors.Is(err, volumes.ErrNeedsStop) && live {
		if !s.stopForVolumes(ctx, ns, t, inst, "its volume grows or its data is encrypted while it is stopped", log) {
			return false
		}
		err = v.Prepare(ctx, ns.Spec, values, true)
	}
	if err != nil {
		s.retry(ctx, ns, t, fmt.Sprintf("preparing volumes: %v", err), log)
		return false
	}
	log.Debug("volumes ready", "data", data, "skills", skills, "took", time.Since(start))
	if remake || *missing {
		// A namespace that had Docker volumes (running, stopped or
		// evicted) has their files moved onto its new volumes first.
		dataVol, skillsVol := ns.Spec.DataVolume, ns.Spec.SkillsVolume
		if remake {
			dataVol, skillsVol = inst.DataVolume, inst.SkillsVolume
		}
		moved, err := s.moveVolumes(ctx, name, *inst, dataVol, skillsVol, data, skills)
		if err != nil {
			s.retry(ctx, ns, t, err.Error(), log)
			return false
		}
		if remake {
			if err := s.rt.Remove(ctx, name, runtime.RemoveOptions{}); err != nil {
				log.Warn("removing the gateway to re-create it on its new volumes failed; will retry", "error", err)
				s.q.addAfter(name, 2*time.Second)
				return false
			}
			log.Info("re-creating the gateway on its new volumes", "data", data, "skills", skills)
			*inst, *missing = runtime.Instance{}, true
		}
		s.dropMovedVolumes(ctx, name, moved, log)
		if remake {
			return true
		}
	}
	t.volumes = want
	return true
}

// stopForVolumes stops a live gateway for volume work and reads it again;
// the stop is clawd's, not a crash.
func (s *Supervisor) stopForVolumes(ctx context.Context, ns namespace.Namespace, t *track, inst *runtime.Instance, why string, log hclog.Logger) bool {
	name := ns.Spec.Name
	log.Info("stopping the gateway for its volumes", "why", why)
	s.setStatus(ctx, name, namespace.Status{Phase: namespace.PhaseStarting, ContainerID: inst.ContainerID, Restarts: t.failures, Reason: "stopped: " + why})
	if err := s.rt.Stop(ctx, name, s.cfg.StopTimeout); err != nil {
		log.Warn("stopping the gateway for its volumes failed; will retry", "error", err)
		s.q.addAfter(name, 2*time.Second)
		return false
	}
	i, err := s.rt.Inspect(ctx, name)
	if err != nil {
		log.Warn("inspecting the stopped gateway failed; will retry", "error", err)
		s.q.addAfter(name, 2*time.Second)
		return false
	}
	*inst = i
	t.lastStarted = i.StartedAt
	return true
}

// moveVolumes imports the Docker volumes (those named, else the
// namespace's own) of roles that now have a volume of their own and that
// inst did not already bind, and returns the names of those it moved.
func (s *Supervisor) moveVolumes(ctx context.Context, name string, inst runtime.Instance, dataVol, skillsVol, data, skills string) ([]string, error) {
	if (data == "" || inst.DataBind != "") && (skills == "" || inst.SkillsBind != "") {
		return nil, nil
	}
	p, ok := s.rt.(runtime.VolumePather)
	if !ok {
		return nil, nil // nothing to move from
	}
	dv, sv, err := p.NamespaceVolumes(ctx, name, dataVol, skillsVol)
	if err != nil {
		return nil, fmt.Errorf("finding the files of the namespace's Docker volumes: %w", err)
	}
	var moved []string
	for _, m := range []struct {
		role, bind, had string
		from            runtime.VolumeFiles
	}{
		{volumes.Data, data, inst.DataBind, dv},
		{volumes.Skills, skills, inst.SkillsBind, sv},
	} {
		if m.bind == "" || m.had != "" || m.from.Path == "" {
			continue
		}
		if err := s.cfg.Volumes.Import(ctx, name, m.role, m.from.Path); err != nil {
			return nil, err
		}
		moved = append(moved, m.from.Name)
	}
	return moved, nil
}

// dropMovedVolumes removes the Docker volumes whose files were moved onto
// the namespace's own volumes, once no container mounts them: left, they
// would hold a plain copy of data now encrypted, and be metered twice.
// One that cannot be removed now is logged and left to the operator (the
// leak reaper keeps volumes of live namespaces).
func (s *Supervisor) dropMovedVolumes(ctx context.Context, name string, moved []string, log hclog.Logger) {
	o, ok := s.rt.(runtime.Objects)
	if !ok {
		return
	}
	for _, v := range moved {
		if err := o.RemoveObject(ctx, runtime.Object{Kind: "volume", ID: v, Name: v, Namespace: name}); err != nil {
			log.Warn("removing the Docker volume whose files were moved failed; remove it by hand", "volume", v, "error", err)
			continue
		}
		log.Info("removed the Docker volume whose files were moved", "volume", v)
	}
}

// lockVolumes removes a stopped or evicted namespace's data key from the
// kernel: its files read as ciphertext until it starts again.
func (s *Supervisor) lockVolumes(ctx context.Context, name string, log hclog.Logger) {
	if s.cfg.Volumes == nil {
		return
	}
	if err := s.cfg.Volumes.Lock(ctx, name); err != nil {
		log.Warn("removing the volume key failed", "error", err)
	}
}

// removeVolumes unmounts a deleted namespace's volumes (and deletes them
// with --purge).
func (s *Supervisor) removeVolumes(ctx context.Context, ns namespace.Namespace) error {
	if s.cfg.Volumes == nil {
		return nil
	}
	return s.cfg.Volumes.Remove(ctx, ns.Spec.Name, ns.Spec.Purge)
}

var _ Volumes = (*volumes.Manager)(nil)
