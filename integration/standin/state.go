package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// bootCountFile lives in the state dir, which is a volume, so it counts
// restarts of the container and not only of the process.
const bootCountFile = "standin-boot-count"

// incrementBootCount adds one to the boot counter and returns the new value.
func incrementBootCount(stateDir string) (int, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return 0, err
	}
	path := filepath.Join(stateDir, bootCountFile)
	n := 0
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		n, err = strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			return 0, fmt.Errorf("%s is corrupt: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, err
	}
	n++

	// Rename so that a kill mid-write can never leave a half-written counter.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(n)+"\n"), 0o600); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	return n, nil
}

// openclawConfig is the small part of openclaw.json the stand-in looks at.
type openclawConfig struct {
	Agents struct {
		Defaults struct {
			// OpenClaw accepts either "provider/model" or {primary, fallbacks}.
			Model json.RawMessage `json:"model"`
		} `json:"defaults"`
	} `json:"agents"`
	Models struct {
		Providers map[string]providerConfig `json:"providers"`
	} `json:"models"`
	Gateway struct {
		TrustedProxies []string `json:"trustedProxies"`
		Auth           struct {
			Mode         string `json:"mode"`
			Token        string `json:"token"`
			TrustedProxy struct {
				UserHeader      string   `json:"userHeader"`
				RequiredHeaders []string `json:"requiredHeaders"`
				AllowUsers      []string `json:"allowUsers"`
			} `json:"trustedProxy"`
		} `json:"auth"`
	} `json:"gateway"`
	Skills struct {
		Load struct {
			ExtraDirs []string `json:"extraDirs"`
		} `json:"load"`
	} `json:"skills"`
}

// skills lists the skills OpenClaw would load from the config's extra
// dirs: the names of their subdirectories holding a SKILL.md, sorted.
func (c openclawConfig) skills() []string {
	var out []string
	for _, dir := range c.Skills.Load.ExtraDirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "SKILL.md")); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out)
	return out
}

// readConfig loads the config file; a missing file is an empty config, as
// with OpenClaw's --allow-unconfigured.
func readConfig(path string) (openclawConfig, error) {
	var cfg openclawConfig
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// modelPrimary returns agents.defaults.model.primary, or the model itself
// when it is given as a plain string.
func (c openclawConfig) modelPrimary() string {
	if chain := c.modelChain(); len(chain) > 0 {
		return chain[0]
	}
	return ""
}

// modelChain returns the default agent's models in the order OpenClaw tries
// them: the primary, then the fallbacks; empty without a primary.
func (c openclawConfig) modelChain() []string {
	raw := c.Agents.Defaults.Model
	if len(raw) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	var m struct {
		Primary   string   `json:"primary"`
		Fallbacks []string `json:"fallbacks"`
	}
	_ = json.Unmarshal(raw, &m)
	if m.Primary == "" {
		return nil
	}
	chain := []string{m.Primary}
	for _, f := range m.Fallbacks {
		if f != "" && !slices.Contains(chain, f) {
			chain = append(chain, f)
		}
	}
	return chain
}
