package supervisor

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

// createOrAdopt gives a namespace that never had a container a warm-pool
// gateway when one is ready, else creates one. A namespace with a skills
// directory from the host gets no spare: a spare cannot gain a mount.
func (s *Supervisor) createOrAdopt(ctx context.Context, ns namespace.Namespace, hostSkills string, log hclog.Logger) (runtime.Instance, error) {
	spec := s.gatewaySpec(ns.Spec, hostSkills)
	pr, canAdopt := s.rt.(runtime.Pool)
	// Nor does one with a capped or encrypted volume: its mounts differ.
	if canAdopt && s.cfg.Pool != nil && ns.Spec.Warmup && ns.Spec.DataVolume == "" && hostSkills == "" && spec.DataBind == "" && spec.SkillsBind == "" {
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

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
