package retention

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
)

// lockedVolumes is an Unlocker whose volume reads only inside Unlocked
// (its dir is there only then), or never when fail is set.
type lockedVolumes struct {
	dir      string
	open     bool
	unlocked []string
	fail     error
}

func (v *lockedVolumes) DataDir(context.Context, string, string) (string, error) {
	if !v.open {
		return "", errors.New("locked")
	}
	return v.dir, nil
}

func (v *lockedVolumes) Unlocked(_ context.Context, ns string, fn func() error) error {
	if v.fail != nil {
		return v.fail
	}
	v.unlocked = append(v.unlocked, ns)
	v.open = true
	defer func() { v.open = false }()
	return fn()
}

// TestCleanerUnlocksAStoppedVolume: a stopped namespace's files are swept
// inside Unlocked; a running one's are not unlocked (its gateway holds
// the key); one that cannot be unlocked reports why for each file kind.
func TestCleanerUnlocksAStoppedVolume(t *testing.T) {
	vol := t.TempDir()
	write(t, vol, "logs/old.log", "12345", old)
	st := &fakeStore{ns: map[string]namespace.Namespace{"enc": nsIn("enc", namespace.PhaseStopped)}}
	v := &lockedVolumes{dir: vol}
	c := &Cleaner{Volumes: v, Ledger: &fakeLedger{}, Store: st, Now: func() time.Time { return now }}
	age := 90 * 24 * time.Hour

	st.ns["enc"] = nsIn("enc", namespace.PhaseRunning)
	rep, err := c.Clean(context.Background(), Request{Namespace: "enc", OlderThan: map[Kind]time.Duration{Logs: age}})
	if err != nil || len(v.unlocked) != 0 || rep.Kinds[0].Error != "locked" {
		t.Fatalf("running: unlocked %v, report %+v, %v", v.unlocked, rep, err)
	}

	st.ns["enc"] = nsIn("enc", namespace.PhaseStopped)
	rep, err = c.Clean(context.Background(), Request{Namespace: "enc", OlderThan: map[Kind]time.Duration{Logs: age, Metrics: age}})
	if err != nil || rep.Failed() || len(v.unlocked) != 1 || rep.Kinds[0].Count != 1 {
		t.Fatalf("stopped: unlocked %v, report %+v, %v", v.unlocked, rep, err)
	}
	if _, err := os.Stat(filepath.Join(vol, "logs", "old.log")); !os.IsNotExist(err) {
		t.Fatalf("old log after the cleanup: %v", err)
	}

	// Metrics alone need no volume: nothing is unlocked for them.
	if _, err := c.Clean(context.Background(), Request{Namespace: "enc", OlderThan: map[Kind]time.Duration{Metrics: age}}); err != nil || len(v.unlocked) != 1 {
		t.Fatalf("metrics only: unlocked %v, %v", v.unlocked, err)
	}

	v.fail = errors.New("unlocking the data volume of enc: vault is unreachable")
	rep, err = c.Clean(context.Background(), Request{Namespace: "enc", OlderThan: map[Kind]time.Duration{Logs: age, Metrics: age}})
	if err != nil || rep.Kinds[0].Error != v.fail.Error() || rep.Kinds[1].Error != "" {
		t.Fatalf("unlock failing: %+v, %v", rep, err)
	}
}
