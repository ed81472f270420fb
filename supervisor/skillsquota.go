package supervisor

import (
	"context"
	"fmt"

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
// quota. nil: within it, no quota, or nothing could be counted (a runtime
// whose volumes this host cannot read counts the skills.path only).
func (s *Supervisor) overSkillsQuota(ctx context.Context, spec namespace.Spec, hostDir string) error {
	limit := spec.MaxSkills
	if limit <= 0 {
		return nil
	}
	var inVolume, inPath int
	if sv, ok := s.rt.(skillsVolumes); ok {
		dir, err := sv.SkillsVolumeDir(ctx, spec.Name, spec.SkillsVolume)
		if err != nil {
			return fmt.Errorf("counting the skills for %s=%d: %w", quota.MaxInstalled, limit, err)
		}
		if dir != "" {
			if inVolume, err = quota.CountSkills(dir); err != nil {
				return fmt.Errorf("counting the skills for %s=%d: %w", quota.MaxInstalled, limit, err)
			}
		}
	}
	if hostDir != "" {
		var err error
		if inPath, err = quota.CountSkills(hostDir); err != nil {
			return fmt.Errorf("counting the skills for %s=%d: %w", quota.MaxInstalled, limit, err)
		}
	}
	if n := inVolume + inPath; n > limit {
		return fmt.Errorf("%s is %d and %d skills are installed (%d in the skills volume, %d in skills.path): remove %d or raise the quota",
			quota.MaxInstalled, limit, n, inVolume, inPath, n-limit)
	}
	return nil
}
