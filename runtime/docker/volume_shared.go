package docker

import (
	"fmt"
	"os"
	"path/filepath"
)

// sharedOptions are the local driver's options for volume name: none
// without shared volumes, else a bind of SharedVolumes/name, made (and
// handed to the gateway user) when missing. The same name on another
// node binds the same directory.
func (r *Runtime) sharedOptions(name string) (map[string]string, error) {
	if r.shared == "" {
		return nil, nil
	}
	dir := filepath.Join(r.shared, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("shared volume %s: %w", name, err)
	}
	if err := os.Chown(dir, gatewayUID, gatewayGID); err != nil {
		return nil, fmt.Errorf("shared volume %s: handing it to the gateway user: %w", name, err)
	}
	return map[string]string{"type": "none", "o": "bind", "device": dir}, nil
}
