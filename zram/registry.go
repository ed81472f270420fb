package zram

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// A zram device outlives the clawd that made it (a restart finds its
// Compressed namespaces in it), so a data dir that goes away without a
// Release (a crashed test, an operator's rm -rf) would leave the device
// on the host for good. Every device clawd makes is therefore also
// recorded host-wide, under /run (gone at reboot, like the devices), with
// the state file that owns it; each Setup removes the devices whose owner
// is gone. The kernel allows only about 29 swap areas, so such leaks would
// soon stop every clawd on the host from making one.

// registryDir holds one record per device clawd made on this host.
var registryDir = "/run/clawd/zram"

type record struct {
	Device    int    `json:"device"`
	UUID      string `json:"uuid"`
	StateFile string `json:"stateFile"`
}

func recordPath(num int) string {
	return filepath.Join(registryDir, fmt.Sprintf("zram%d.json", num))
}

func (d *Device) register(num int, uuid, stateFile string) error {
	if err := os.MkdirAll(registryDir, 0o700); err != nil {
		return fmt.Errorf("recording the zram device host-wide: %w", err)
	}
	b, _ := json.Marshal(record{Device: num, UUID: uuid, StateFile: stateFile})
	if err := os.WriteFile(recordPath(num), b, 0o600); err != nil {
		return fmt.Errorf("recording the zram device host-wide: %w", err)
	}
	return nil
}

func (d *Device) unregister(num int) { _ = os.Remove(recordPath(num)) }

// sweep removes the devices an earlier clawd made whose state file is gone
// or names another device: nothing can ever adopt them. A device whose
// owner still has its state file is left alone, running or not.
func (d *Device) sweep(log hclog.Logger) {
	entries, err := os.ReadDir(registryDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "zram") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(registryDir, e.Name())
		b, err := os.ReadFile(path)
		var r record
		if err != nil || json.Unmarshal(b, &r) != nil {
			_ = os.Remove(path)
			continue
		}
		dev := fmt.Sprintf("/dev/zram%d", r.Device)
		if uuid, err := readUUID(dev); err != nil || uuid != r.UUID {
			_ = os.Remove(path) // the device is gone or is someone else's now
			continue
		}
		if owned(r) {
			continue
		}
		if err := d.remove(r.Device); err != nil {
			log.Warn("could not remove a zram device an earlier clawd left behind", "device", dev, "owner", r.StateFile, "error", err)
			continue
		}
		log.Info("removed a zram device an earlier clawd left behind; its data dir is gone", "device", dev, "owner", r.StateFile)
	}
}

// owned reports whether the record's state file still names its device.
func owned(r record) bool {
	b, err := os.ReadFile(r.StateFile)
	if err != nil {
		return false
	}
	var s state
	return json.Unmarshal(b, &s) == nil && s.Device == r.Device && s.UUID == r.UUID
}
