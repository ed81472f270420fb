package supervisor

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/store"
)

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
	if err := s.removeVolumes(cctx, ns); err != nil {
		log.Warn("removing volumes failed; will retry", "error", err)
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
