package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SkillsPolicy decides which host directories namespaces.<ns>.skills.path
// may name. Such a directory is bind-mounted into a tenant's gateway, so it
// must lie under one of the operator's roots (--skills.roots) and must not
// hold, or lie in, any of clawd's own files, wherever the operator put them.
type SkillsPolicy struct {
	// Roots are the directories skills paths may be in (or be); none
	// allows no host skills directory at all.
	Roots []string
	// Protected are clawd's own paths (the data dir, the secrets key, the
	// certificate dir): no skills path may be one, contain one or lie in one.
	Protected []string
}

// SkillsPolicy is the policy the static options set.
func (s *Static) SkillsPolicy() SkillsPolicy {
	var p SkillsPolicy
	if s.Skills != nil {
		p.Roots = s.Skills.Roots
	}
	own := []string{s.DataDir}
	if s.Secrets != nil {
		own = append(own, s.Secrets.KeyFile)
	}
	if s.Router != nil {
		own = append(own, s.Router.CertDir)
	}
	for _, q := range own {
		if q == "" {
			continue
		}
		if abs, err := filepath.Abs(q); err == nil {
			q = abs
		}
		p.Protected = append(p.Protected, q)
	}
	return p
}

// validateRoots refuses a root that is not absolute, is "/" or a system
// tree, or overlaps one of clawd's own paths.
func (p SkillsPolicy) validateRoots() error {
	for _, r := range p.Roots {
		if !filepath.IsAbs(r) {
			return fmt.Errorf("invalid --skills.roots %q: use absolute paths", r)
		}
		c := filepath.Clean(r)
		if sys := systemDir(c); sys != "" {
			return fmt.Errorf("invalid --skills.roots %q: tenants' gateways mount what lies there; use a directory outside %s", r, sys)
		}
		for _, form := range forms(c) {
			if sys := systemDir(form); sys != "" {
				return fmt.Errorf("invalid --skills.roots %q (%s): tenants' gateways mount what lies there; use a directory outside %s", r, form, sys)
			}
			if q, ok := p.overlapsProtected(form); ok {
				return fmt.Errorf("invalid --skills.roots %q: it overlaps clawd's own %s; keep the two apart", r, q)
			}
		}
	}
	return nil
}

// Check tells whether the skills path p (absolute and clean, as Normalize
// returns it) may be set now. A path that exists is checked as Resolve
// would; one that does not yet, by its name.
func (p SkillsPolicy) Check(path string) error {
	if _, err := os.Lstat(path); err == nil {
		_, err := p.Resolve(path)
		return err
	}
	if sys := systemDir(path); sys != "" {
		return fmt.Errorf("%s lies in %s, which a tenant's gateway must not mount", path, sys)
	}
	if q, ok := p.overlapsProtected(path); ok {
		return fmt.Errorf("%s overlaps clawd's own %s, which a tenant's gateway must not mount", path, q)
	}
	if len(p.Roots) == 0 {
		return p.noRoots(path)
	}
	for _, r := range p.Roots {
		for _, form := range forms(filepath.Clean(r)) {
			if within(path, form) {
				return nil
			}
		}
	}
	return p.notUnder(path, "")
}

// Resolve returns the real path of the skills directory p (symlinks
// resolved), the one to mount, or why it may not be mounted: it is missing
// or no directory, or its real path lies in a system tree, overlaps one of
// clawd's own paths or is under no root. Call it before every start: what
// a name resolves to can change at any time.
func (p SkillsPolicy) Resolve(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s does not exist; create the directory or set another one", path)
		}
		return "", fmt.Errorf("%s cannot be resolved: %w", path, err)
	}
	shown := path
	if real != path {
		shown = fmt.Sprintf("%s (really %s)", path, real)
	}
	if sys := systemDir(real); sys != "" {
		return "", fmt.Errorf("%s lies in %s, which a tenant's gateway must not mount; want a directory outside %s", shown, sys, sys)
	}
	if q, ok := p.overlapsProtected(real); ok {
		return "", fmt.Errorf("%s overlaps clawd's own %s, which a tenant's gateway must not mount", shown, q)
	}
	if len(p.Roots) == 0 {
		return "", p.noRoots(shown)
	}
	under := false
	for _, r := range p.Roots {
		if rr, err := filepath.EvalSymlinks(r); err == nil && within(real, rr) {
			under = true
			break
		}
	}
	if !under {
		return "", p.notUnder(path, real)
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", shown)
	}
	return real, nil
}

func (p SkillsPolicy) noRoots(path string) error {
	return fmt.Errorf("%s: no host skills directory is allowed until the operator names the directories they may be in with clawd up --skills.roots", path)
}

func (p SkillsPolicy) notUnder(path, real string) error {
	if real != "" && real != path {
		path = fmt.Sprintf("%s (really %s)", path, real)
	}
	return fmt.Errorf("%s is not under the skills roots (%s); use a directory in one of them", path, strings.Join(p.Roots, ", "))
}

// overlapsProtected returns the protected path that p is, lies in or
// contains, comparing both the configured and the real form of each.
func (p SkillsPolicy) overlapsProtected(path string) (string, bool) {
	for _, q := range p.Protected {
		if q == "" {
			continue
		}
		for _, form := range forms(filepath.Clean(q)) {
			if within(path, form) || within(form, path) {
				return q, true
			}
		}
	}
	return "", false
}

// forms are p and, when it differs and p exists, its real path.
func forms(p string) []string {
	if r, err := filepath.EvalSymlinks(p); err == nil && r != p {
		return []string{p, r}
	}
	return []string{p}
}

// within reports whether path p is dir or lies in it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
