package supervisor

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
)

// skillsVolumes is a runtime that can show where a skills volume's files
// are on this host (the Docker runtime with the local driver).
type skillsVolumes interface {
	SkillsVolumeDir(ctx context.Context, ns, skillsVolume string) (string, error)
}

// overSkillsQuota says why namespace spec's gateway may not start under
// skills.maxInstalled: the skills installed in its skills volume and in
// its skills.path directory (hostDir, "" for none) number more than the
// quota. nil: within it, or no quota. What cannot be counted (a volume
// this host cannot read into) counts none, logged: a quota must not keep
// a tenant's gateway down because clawd cannot see its volume.
func (s *Supervisor) overSkillsQuota(ctx context.Context, spec namespace.Spec, hostDir string, log hclog.Logger) error {
	limit := spec.MaxSkills
	if limit <= 0 {
		return nil
	}
	count := func(where string, dir func() (string, error)) int {
		d, err := dir()
		if err == nil && d != "" {
			var n int
			if n, err = quota.CountSkills(d); err == nil {
				return n
			}
		}
		if err != nil {
			log.Warn("cannot count the skills installed; "+quota.MaxInstalled+" does not count them", "in", where, "error", err)
		}
		return 0
	}
	var inVolume, inPath int
	if _, bind := s.volumeBinds(spec); bind != "" {
		// a capped skills volume: its own filesystem, mounted by prepareVolumes
		inVolume = count("the skills volume", func() (string, error) { return bind, nil })
	} else if sv, ok := s.rt.(skillsVolumes); ok {
		inVolume = count("the skills volume", func() (string, error) { return sv.SkillsVolumeDir(ctx, spec.Name, spec.SkillsVolume) })
	}
	if hostDir != "" {
		inPath = count("skills.path", func() (string, error) { return hostDir, nil })
	}
	if n := inVolume + inPath; n > limit {
		return fmt.Errorf("%s is %d and %d skills are installed (%d in the skills volume, %d in skills.path): remove %d or raise the quota",
			quota.MaxInstalled, limit, n, inVolume, inPath, n-limit)
	}
	return nil
}
