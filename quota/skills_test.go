package quota

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCountSkills(t *testing.T) {
	root := t.TempDir()
	write := func(rel string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("---\nname: x\n---\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		t.Helper()
		n, err := CountSkills(root)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("empty dir: %d skills, want 0", n)
	}
	write("weather/SKILL.md")
	write("github/SKILL.md")
	write("notes/README.md")            // no SKILL.md: not a skill
	write("deep/nested/inner/SKILL.md") // not directly in root
	write("stray.md")
	if n := count(); n != 2 {
		t.Fatalf("%d skills, want 2 (weather, github)", n)
	}
	// A SKILL.md that is a directory is no skill; one behind a link is not followed.
	if err := os.MkdirAll(filepath.Join(root, "odd", skillFile), 0o755); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, skillFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d skills, want 2: a SKILL.md directory and a linked skill do not count", n)
	}
	write(skillFile) // the root is a skill itself
	if n := count(); n != 3 {
		t.Fatalf("%d skills, want 3 with the root's own SKILL.md", n)
	}
	if n, err := CountSkills(filepath.Join(root, "missing")); err != nil || n != 0 {
		t.Fatalf("missing root: %d, %v; want 0, nil", n, err)
	}
}
