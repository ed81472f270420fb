package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// skillsTree lays out a host as an operator might: a skills root with
// tenants' dirs, clawd's data dir inside the root (a mistake the policy must
// survive), a directory outside the root, and symlinks between them.
func skillsTree(t *testing.T) (root, data, outside string) {
	t.Helper()
	base := t.TempDir()
	base, _ = filepath.EvalSymlinks(base)
	root, outside = filepath.Join(base, "skills"), filepath.Join(base, "elsewhere")
	data = filepath.Join(root, "clawd-data")
	for _, d := range []string{filepath.Join(root, "acme"), filepath.Join(data, "etcd"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		filepath.Join(root, "to-etc"):       "/etc",
		filepath.Join(root, "to-outside"):   outside,
		filepath.Join(root, "to-data"):      data,
		filepath.Join(outside, "to-acme"):   filepath.Join(root, "acme"),
		filepath.Join(base, "data-link"):    data,
		filepath.Join(base, "skills-link"):  root,
		filepath.Join(root, "acme-renamed"): filepath.Join(root, "acme"),
	}
	for link, target := range links {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return root, data, outside
}

func TestSkillsPolicyResolve(t *testing.T) {
	root, data, outside := skillsTree(t)
	base := filepath.Dir(root)
	p := SkillsPolicy{Roots: []string{root}, Protected: []string{data}}
	viaLink := SkillsPolicy{Roots: []string{filepath.Join(base, "skills-link")}, Protected: []string{filepath.Join(base, "data-link")}}
	for _, tc := range []struct {
		name    string
		policy  SkillsPolicy
		path    string
		want    string
		wantErr string
	}{
		{name: "a tenant's dir", policy: p, path: filepath.Join(root, "acme"), want: filepath.Join(root, "acme")},
		{name: "the root itself", policy: SkillsPolicy{Roots: []string{root}}, path: root, want: root},
		{name: "the root holding the data dir", policy: p, path: root, wantErr: "overlaps clawd's own " + data},
		{name: "a symlink to a tenant's dir mounts the real path", policy: p, path: filepath.Join(root, "acme-renamed"), want: filepath.Join(root, "acme")},
		{name: "a symlink from outside into the root", policy: p, path: filepath.Join(outside, "to-acme"), want: filepath.Join(root, "acme")},
		{name: "roots and data dir named through symlinks", policy: viaLink, path: filepath.Join(root, "acme"), want: filepath.Join(root, "acme")},
		{name: "no roots", policy: SkillsPolicy{Protected: []string{data}}, path: filepath.Join(root, "acme"), wantErr: "--skills.roots"},
		{name: "outside every root", policy: p, path: outside, wantErr: "is not under the skills roots (" + root + ")"},
		{name: "a symlink out of the root", policy: p, path: filepath.Join(root, "to-outside"), wantErr: "really " + outside + ") is not under the skills roots"},
		{name: "a symlink to /etc", policy: p, path: filepath.Join(root, "to-etc"), wantErr: "lies in /etc"},
		{name: "the data dir", policy: p, path: data, wantErr: "overlaps clawd's own " + data},
		{name: "inside the data dir", policy: p, path: filepath.Join(data, "etcd"), wantErr: "overlaps clawd's own"},
		{name: "a symlink to the data dir", policy: p, path: filepath.Join(root, "to-data"), wantErr: "overlaps clawd's own"},
		{name: "the data dir named through a symlink", policy: viaLink, path: filepath.Join(root, "to-data"), wantErr: "overlaps clawd's own"},
		{name: "a parent of the data dir named through a symlink", policy: viaLink, path: root, wantErr: "overlaps clawd's own"},
		{name: "missing", policy: p, path: filepath.Join(root, "nope"), wantErr: "does not exist"},
		{name: "a file", policy: p, path: filepath.Join(root, "file"), wantErr: "is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.policy.Resolve(tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve(%s) = %q, %v; want an error with %q", tc.path, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve(%s) = %q, %v; want %s", tc.path, got, err, tc.want)
			}
		})
	}
}

// Check is what `config set` runs: a path that does not exist yet is
// judged by its name, one that exists by its real path.
func TestSkillsPolicyCheck(t *testing.T) {
	root, data, outside := skillsTree(t)
	p := SkillsPolicy{Roots: []string{root}, Protected: []string{data}}
	for _, tc := range []struct {
		path    string
		wantErr string
	}{
		{path: filepath.Join(root, "acme")},
		{path: filepath.Join(root, "not-yet")},
		{path: filepath.Join(outside, "not-yet"), wantErr: "is not under the skills roots"},
		{path: filepath.Join(data, "not-yet"), wantErr: "overlaps clawd's own"},
		{path: filepath.Join(root, "to-etc"), wantErr: "lies in /etc"},
		{path: "/etc/not-yet", wantErr: "lies in /etc"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			err := p.Check(tc.path)
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Check(%s) = %v; want error %q", tc.path, err, tc.wantErr)
			}
		})
	}
}

func TestSkillsRootsOption(t *testing.T) {
	root, data, _ := skillsTree(t)
	s, err := LoadStatic([]string{"--datadir=" + filepath.Join(filepath.Dir(root), "data"), "--skills.roots=" + root + ",/srv/clawd/skills"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.SkillsPolicy().Roots, ","); got != root+",/srv/clawd/skills" {
		t.Fatalf("roots %q", got)
	}
	if s, err := LoadStatic(nil, nil); err != nil || len(s.SkillsPolicy().Roots) != 0 {
		t.Fatalf("default: %v, roots %v; want none", err, s.SkillsPolicy().Roots)
	}
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"--skills.roots=skills"}, wantErr: "use absolute paths"},
		{args: []string{"--skills.roots=/"}, wantErr: "outside /"},
		{args: []string{"--skills.roots=/etc/clawd"}, wantErr: "outside /etc"},
		{args: []string{"--skills.roots=" + filepath.Join(root, "to-etc")}, wantErr: "outside /etc"},
		{args: []string{"--datadir=" + data, "--skills.roots=" + root}, wantErr: "overlaps clawd's own " + data},
		{args: []string{"--datadir=" + filepath.Join(data, "etcd"), "--skills.roots=" + root}, wantErr: "overlaps clawd's own"},
		{args: []string{"--datadir=/srv/x", "--router.certdir=" + root, "--skills.roots=" + filepath.Join(root, "acme")}, wantErr: "overlaps clawd's own " + root},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := LoadStatic(tc.args, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}
