package supervisor

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/runtime"
)

// hostSkillsDir is where a gateway has its namespace's skills.path mounted.
const hostSkillsDir = "/clawd/skills"

// hostSkillsDirOf is where inst has a skills directory from the host, if
// it has one: the config names only the skill dirs the container has.
func hostSkillsDirOf(inst runtime.Instance) string {
	if inst.HostSkills == "" {
		return ""
	}
	return hostSkillsDir
}

// hostSkills returns the host directory of skills namespace name's gateway
// mounts (namespaces.<ns>.skills.path, symlinks resolved: the real path is
// what gets mounted), "" for none, or why it cannot: the skills policy
// refuses it (missing, in a system tree, over clawd's own files, under no
// skills root), or it overlaps another namespace's while either one's
// skills.isolation is strict (the default), since then one tenant would
// read another's skills. It runs before every start.
func (s *Supervisor) hostSkills(name string) (string, error) {
	s.mu.Lock()
	values := s.values
	others := make([]string, 0, len(s.known))
	for n := range s.known {
		if n != name {
			others = append(others, n)
		}
	}
	s.mu.Unlock()
	p, _ := config.Effective(values, name, "skills.path")
	if p == "" {
		return "", nil
	}
	key := "namespaces." + name + ".skills.path"
	real, err := s.cfg.Skills.Resolve(p)
	if err != nil {
		return "", fmt.Errorf("%s %w", key, err)
	}
	strict := func(ns string) bool { v, _ := config.Effective(values, ns, "skills.isolation"); return v != "shared" }
	slices.Sort(others)
	for _, o := range others {
		q, _ := config.Effective(values, o, "skills.path")
		if q == "" || !(strict(name) || strict(o)) {
			continue
		}
		if rq, err := filepath.EvalSymlinks(q); err == nil {
			q = rq
		}
		if within(real, q) || within(q, real) {
			return "", fmt.Errorf("%s %s overlaps namespace %s's skills directory %s and skills.isolation is strict: give each namespace its own directory, or set namespaces.<ns>.skills.isolation shared on both", key, p, o, q)
		}
	}
	return real, nil
}

// within reports whether path p is dir or lies in it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
