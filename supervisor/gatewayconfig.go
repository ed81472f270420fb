package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"path"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/openclawcfg"
	"github.com/clawd-dev/clawd/runtime"
)

func (s *Supervisor) gatewaySpec(spec namespace.Spec, hostSkills string) runtime.GatewaySpec {
	g := s.cfg.Gateway.Spec
	g.Env = maps.Clone(g.Env)
	g.Namespace = spec.Name
	g.NanoCPUs = spec.CPUMillis * 1_000_000
	g.MemoryBytes = spec.MemoryBytes
	g.DataVolume, g.SkillsVolume = spec.DataVolume, spec.SkillsVolume
	g.HostSkills, g.HostSkillsDir = hostSkills, hostSkillsDir
	g.DataBind, g.SkillsBind = s.volumeBinds(spec)
	g.StateFiles = nil // a namespace's config is rendered for it (writeConfig)
	return g
}

// RouterAddresser is a runtime that knows the router's address on a
// namespace's network: the only address the namespace's gateway trusts to
// say who is calling (openclawcfg.Options.Proxy). Without it the gateway
// trusts the whole subnet pool.
type RouterAddresser interface {
	RouterAddress(ctx context.Context, ns string) (netip.Addr, error)
}

// writeConfig renders the namespace's gateway config (openclaw.json) and
// writes it into the gateway's state dir when it differs from what this
// container last got: before a first start, after an adoption, and when
// the spec's hostnames or the dynamic config change. A gateway that is not
// running reads it when it starts; a running one hot-reloads it. Runtimes
// that cannot write state get nothing.
func (s *Supervisor) writeConfig(ctx context.Context, ns namespace.Namespace, inst runtime.Instance, t *track, log hclog.Logger) (err error) {
	w, ok := s.rt.(runtime.StateWriter)
	if !ok {
		return nil
	}
	s.mu.Lock()
	values := s.values
	s.mu.Unlock()
	g := s.cfg.Gateway
	var proxy netip.Addr
	if ra, ok := s.rt.(RouterAddresser); ok {
		if proxy, err = ra.RouterAddress(ctx, ns.Spec.Name); err != nil {
			return fmt.Errorf("finding the router's address for the gateway's config: %w", err)
		}
	}
	data, err := openclawcfg.Render(ns.Spec, values, openclawcfg.Options{
		Port: g.Spec.Port, Proxy: proxy, SubnetPool: g.SubnetPool,
		HTTPPort: g.RouterHTTPPort, HTTPSPort: g.RouterHTTPSPort, SkillsDir: g.Spec.SkillsDir,
		HostSkillsDir: hostSkillsDirOf(inst),
		Models:        s.models(ns.Spec),
	})
	if err != nil {
		return err
	}
	if t.configIn == inst.ContainerID && bytes.Equal(t.config, data) {
		return nil
	}
	if err := w.WriteState(ctx, ns.Spec.Name, path.Join(g.Spec.StateDir, openclawcfg.FileName), data); err != nil {
		return fmt.Errorf("writing the gateway's config: %w", err)
	}
	if t.configIn == inst.ContainerID {
		log.Info("gateway config updated; the gateway reloads it", "bytes", len(data))
	} else {
		log.Debug("gateway config written", "container", short(inst.ContainerID), "bytes", len(data))
	}
	t.config, t.configIn = data, inst.ContainerID
	return nil
}

func (s *Supervisor) models(spec namespace.Spec) openclawcfg.Models {
	if s.cfg.Models == nil {
		return openclawcfg.Models{}
	}
	return s.cfg.Models.Models(spec)
}
