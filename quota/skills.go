package quota

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxInstalled is the quota file's skills.maxInstalled.
const MaxInstalled = "skills.maxInstalled"

// skillFile marks a directory as one skill, as OpenClaw loads them.
const skillFile = "SKILL.md"

// CountSkills counts the skills installed in root as OpenClaw finds them
// in a skills directory: each directory directly in root holding a
// SKILL.md is one skill, and root itself is one when it holds a SKILL.md.
// Symbolic links are not followed (OpenClaw does not load skills through
// them either unless told to). A root that does not exist holds none.
func CountSkills(root string) (int, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	if isFile(filepath.Join(root, skillFile)) {
		n++
	}
	for _, e := range entries {
		if e.IsDir() && isFile(filepath.Join(root, e.Name(), skillFile)) {
			n++
		}
	}
	return n, nil
}

func isFile(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}
