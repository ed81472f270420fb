// Package quota is a namespace's quotas: the guide's quota file, the limits
// it sets, and the windows they are counted over (UTC hours and days).
package quota

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/clawd-dev/clawd/units"
)

// Limits are a namespace's quotas beyond its compute caps (which are the
// namespace spec's CPU and memory) and its skills count (the spec's
// MaxSkills). Zero means no limit.
type Limits struct {
	// StorageSkills and StorageData cap the two volumes, in bytes.
	StorageSkills int64 `json:"storageSkills,omitempty"`
	StorageData   int64 `json:"storageData,omitempty"`
	// RequestsPerHour counts HTTP requests and WebSocket RPC requests at
	// the router, per UTC hour.
	RequestsPerHour int64 `json:"requestsPerHour,omitempty"`
	// TokensPerDay counts input and output tokens at the model gateway,
	// per UTC day.
	TokensPerDay int64 `json:"tokensPerDay,omitempty"`
	// MaxConcurrentSkills is skills.maxConcurrent.
	MaxConcurrentSkills int64 `json:"maxConcurrentSkills,omitempty"`
	// CallsPerDay are models.maxCallsPerDay: model → calls per UTC day.
	CallsPerDay map[string]int64 `json:"callsPerDay,omitempty"`
}

// IsZero reports whether l sets no limit.
func (l Limits) IsZero() bool {
	return l.StorageSkills == 0 && l.StorageData == 0 && l.RequestsPerHour == 0 && l.TokensPerDay == 0 &&
		l.MaxConcurrentSkills == 0 && len(l.CallsPerDay) == 0
}

// File is the guide's quota file (configs/tenant-a-quota.yaml).
type File struct {
	Namespace string
	// CPUMillis and MemoryBytes are quotas.compute; MaxInstalled is
	// quotas.skills.maxInstalled. Zero: not set.
	CPUMillis    int64
	MemoryBytes  int64
	MaxInstalled int64
	Limits       Limits
}

// maxFile bounds a quota file: the guide's is 400 bytes.
const maxFile = 1 << 20

// Parse reads a quota file. Every error names the key (as a dotted path)
// and what is valid there; unknown keys are refused.
func Parse(data []byte) (File, error) {
	if len(data) > maxFile {
		return File{}, fmt.Errorf("quota file larger than %d KiB", maxFile>>10)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return File{}, errors.New("quota file is empty: want namespace: and quotas:")
		}
		return File{}, fmt.Errorf("quota file is not YAML: %s", oneLine(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return File{}, errors.New("quota file holds more than one YAML document")
	}
	var f File
	err := walk(docRoot(&doc), "", map[string]func(*yaml.Node, string) error{
		"namespace": func(n *yaml.Node, path string) (err error) {
			f.Namespace, err = str(n, path)
			return err
		},
		"quotas": func(n *yaml.Node, path string) error {
			return walk(n, path, map[string]func(*yaml.Node, string) error{
				"compute": func(n *yaml.Node, path string) error {
					return walk(n, path, map[string]func(*yaml.Node, string) error{
						"cpu":    parseWith(&f.CPUMillis, units.ParseCPU),
						"memory": parseWith(&f.MemoryBytes, units.ParseBytes),
					})
				},
				"storage": func(n *yaml.Node, path string) error {
					return walk(n, path, map[string]func(*yaml.Node, string) error{
						"skills": parseWith(&f.Limits.StorageSkills, units.ParseBytes),
						"data":   parseWith(&f.Limits.StorageData, units.ParseBytes),
					})
				},
				"api": func(n *yaml.Node, path string) error {
					return walk(n, path, map[string]func(*yaml.Node, string) error{
						"requestsPerHour": count(&f.Limits.RequestsPerHour),
						"tokensPerDay":    count(&f.Limits.TokensPerDay),
					})
				},
				"skills": func(n *yaml.Node, path string) error {
					return walk(n, path, map[string]func(*yaml.Node, string) error{
						"maxInstalled":  count(&f.MaxInstalled),
						"maxConcurrent": count(&f.Limits.MaxConcurrentSkills),
					})
				},
				"models": func(n *yaml.Node, path string) error {
					return walk(n, path, map[string]func(*yaml.Node, string) error{
						"maxCallsPerDay": func(n *yaml.Node, path string) error {
							return perModel(n, path, &f.Limits.CallsPerDay)
						},
					})
				},
			})
		},
	})
	if err != nil {
		return File{}, err
	}
	if f.Namespace == "" {
		return File{}, errors.New("quota file: namespace: is missing (the namespace it is for)")
	}
	return f, nil
}

func docRoot(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return doc
}

// walk checks that n is a mapping of only the keys in fields, each once,
// and hands each value to its field.
func walk(n *yaml.Node, path string, fields map[string]func(*yaml.Node, string) error) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: want a mapping of %s", where(path), keyList(fields))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		field, ok := fields[k.Value]
		if !ok || k.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: unknown key; valid here: %s", key, keyList(fields))
		}
		if seen[k.Value] {
			return fmt.Errorf("%s: given twice", key)
		}
		seen[k.Value] = true
		if err := field(v, key); err != nil {
			return err
		}
	}
	return nil
}

func perModel(n *yaml.Node, path string, into *map[string]int64) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: want a mapping of model → calls per day (gpt-4o: 1000)", path)
	}
	*into = map[string]int64{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		model := strings.TrimSpace(k.Value)
		key := join(path, model)
		if k.Kind != yaml.ScalarNode || model == "" || strings.ContainsAny(model, " \t\n") {
			return fmt.Errorf("%s: want a model name", key)
		}
		if _, dup := (*into)[model]; dup {
			return fmt.Errorf("%s: given twice", key)
		}
		var c int64
		if err := count(&c)(v, key); err != nil {
			return err
		}
		(*into)[model] = c
	}
	return nil
}

func parseWith(into *int64, parse func(string) (int64, error)) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		s, err := str(n, path)
		if err != nil {
			return err
		}
		v, err := parse(s)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		*into = v
		return nil
	}
}

// count parses a whole number of at least 0.
func count(into *int64) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		s, err := str(n, path)
		if err != nil {
			return err
		}
		v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("%s: invalid %q: want a whole number, 0 or more", path, s)
		}
		*into = v
		return nil
	}
}

func str(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", fmt.Errorf("%s: want a single value", path)
	}
	return strings.TrimSpace(n.Value), nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func where(path string) string {
	if path == "" {
		return "quota file"
	}
	return path
}

func keyList[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
