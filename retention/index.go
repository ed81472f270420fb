package retention

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// pruneIndex drops from a legacy sessions index (sessions.json: session
// key → entry with sessionId and maybe sessionFile) the entries whose
// transcript file was removed, so an OpenClaw that still reads the index
// does not point at a missing file. 2026.9.6 keeps sessions in SQLite and
// writes no such index; older state migrated into a volume may still have
// one. The index is replaced by rename, keeping its owner and mode; one
// that is not a regular file or not JSON is left alone.
func pruneIndex(root *os.Root, p string, removed map[string]bool) error {
	fi, err := root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil || !fi.Mode().IsRegular() {
		return err
	}
	b, err := root.ReadFile(p)
	if err != nil {
		return err
	}
	var idx map[string]json.RawMessage
	if json.Unmarshal(b, &idx) != nil {
		return nil
	}
	dropped := 0
	for key, raw := range idx {
		var e struct {
			SessionID   string `json:"sessionId"`
			SessionFile string `json:"sessionFile"`
		}
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		if (e.SessionFile != "" && removed[path.Base(e.SessionFile)]) || (e.SessionID != "" && removed[e.SessionID+".jsonl"]) {
			delete(idx, key)
			dropped++
		}
	}
	if dropped == 0 {
		return nil
	}
	out, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".clawd-retention.tmp"
	_ = root.Remove(tmp)
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return fmt.Errorf("rewriting %s: %w", p, err)
	}
	_, err = f.Write(out)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && err == nil {
		err = root.Lchown(tmp, int(st.Uid), int(st.Gid))
	}
	if err == nil {
		err = root.Rename(tmp, p)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("rewriting %s: %w", p, err)
	}
	return nil
}
