package retention

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// Where OpenClaw 2026.9.6 keeps what retention removes, relative to its
// state dir (the namespace's data volume). A dir may name one level with
// "*" (each agent).
//
// Conversations: the files in each agent's session artifact directory
// whose names carry ".jsonl": JSONL transcripts (<session>.jsonl, topic
// variants), trajectory sidecars (.trajectory.jsonl), reset and deletion
// archives (.jsonl.reset.…, .jsonl.deleted.….zst) and cold-storage
// archives (cold/….jsonl.zst). 2026.9.6 keeps live conversations in the
// agent's SQLite database (agents/<id>/agent/openclaw-agent.sqlite), which
// is OpenClaw's to change (its writer queue serializes every mutation):
// clawd leaves it alone, see the README.
//
// Logs: every file under logs/ (config-audit.jsonl, command logs). The
// gateway's running log is in /tmp/openclaw on the container's tmpfs, gone
// when it stops: nothing of it is on the volume to retain.
var places = map[Kind][]place{
	Conversations: {{dir: "agents/*/sessions", match: isTranscript, index: "sessions.json"}},
	Logs:          {{dir: "logs", match: func(string) bool { return true }}},
}

type place struct {
	dir   string
	match func(name string) bool
	// index names the legacy sessions index in dir ("" none): entries
	// whose transcript is removed are dropped from it.
	index string
}

func isTranscript(name string) bool { return strings.Contains(name, ".jsonl") }

// maxItems bounds the files a report lists; the counts cover them all.
const maxItems = 1000

// maxDepth bounds how deep below a kind's directory files are looked for
// (OpenClaw nests one level: cold/); deeper directories count as skipped.
const maxDepth = 8

// sweepFiles finds the files of kind under root last modified before
// cutoff and, unless dryRun, removes them. Nothing is followed: symbolic
// links (and anything not a regular file) are counted as skipped and left
// alone, directories are entered only when they are directories
// themselves, and every operation goes through root, which refuses a path
// that would leave the volume (a directory swapped for a link meanwhile).
func sweepFiles(root *os.Root, kind Kind, cutoff time.Time, dryRun bool, rep *KindReport) error {
	for _, pl := range places[kind] {
		dirs, err := expand(root, pl.dir)
		if err != nil {
			return err
		}
		for _, dir := range dirs {
			removed, err := sweepDir(root, dir, pl, cutoff, dryRun, rep)
			if err != nil {
				return err
			}
			if pl.index != "" && len(removed) > 0 && !dryRun {
				if err := pruneIndex(root, path.Join(dir, pl.index), removed); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// expand returns the directories pattern names that exist, as real
// directories (no link on the way).
func expand(root *os.Root, pattern string) ([]string, error) {
	dirs := []string{"."}
	for _, elem := range strings.Split(pattern, "/") {
		var next []string
		for _, d := range dirs {
			if elem != "*" {
				p := path.Join(d, elem)
				if isDir(root, p) {
					next = append(next, p)
				}
				continue
			}
			ents, err := readDir(root, d)
			if err != nil {
				return nil, err
			}
			for _, e := range ents {
				if e.IsDir() { // the entry's own type: a link is not a dir
					next = append(next, path.Join(d, e.Name()))
				}
			}
		}
		dirs = next
	}
	return dirs, nil
}

func isDir(root *os.Root, p string) bool {
	fi, err := root.Lstat(p)
	return err == nil && fi.IsDir()
}

func readDir(root *os.Root, p string) ([]fs.DirEntry, error) {
	f, err := root.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// sweepDir walks dir depth first and returns the base names it removed.
func sweepDir(root *os.Root, dir string, pl place, cutoff time.Time, dryRun bool, rep *KindReport) (map[string]bool, error) {
	removed := map[string]bool{}
	var walk func(d string, depth int) error
	walk = func(d string, depth int) error {
		if depth > maxDepth {
			rep.Skipped++ // a tenant's endless tree is not walked to its end
			return nil
		}
		ents, err := readDir(root, d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := path.Join(d, e.Name())
			switch {
			case e.IsDir():
				if err := walk(p, depth+1); err != nil {
					return err
				}
				continue
			case !e.Type().IsRegular():
				rep.Skipped++
				continue
			case d == dir && e.Name() == pl.index, !pl.match(e.Name()):
				continue
			}
			fi, err := root.Lstat(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				rep.Skipped++
				continue
			}
			if !fi.ModTime().Before(cutoff) {
				continue
			}
			if !dryRun {
				if err := root.Remove(p); err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						continue
					}
					return err
				}
				removed[e.Name()] = true
			}
			rep.add(Item{Path: p, Bytes: fi.Size(), Modified: fi.ModTime().UTC()})
		}
		return nil
	}
	return removed, walk(dir, 0)
}
