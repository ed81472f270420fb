// Package namespace holds the tenant model: a namespace's spec (what the
// operator asked for), its status (what the supervisor observed) and the
// rules a valid spec follows.
package namespace

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/quota"
)

// Phase is where a namespace is in its lifecycle.
type Phase string

// Phases, as in PRODUCT.md.
const (
	PhasePending  Phase = "Pending"
	PhaseStarting Phase = "Starting"
	PhaseRunning  Phase = "Running"
	PhasePaused   Phase = "Paused"
	// PhaseCompressed is Paused with the frozen gateway's memory squeezed
	// into compressed swap (zram): a fraction of the memory, woken in
	// about the time of a Paused one.
	PhaseCompressed Phase = "Compressed"
	PhaseStopped    Phase = "Stopped"
	PhaseEvicted    Phase = "Evicted"
	PhaseFailed     Phase = "Failed"
	PhaseDeleting   Phase = "Deleting"
)

// Spec is the desired state of one namespace, written by the admin API.
type Spec struct {
	Name        string   `json:"name"`
	DisplayName string   `json:"displayName,omitempty"`
	Hostnames   []string `json:"hostnames,omitempty"`
	// CPU is the CPU cap in millicores (4 CPUs = 4000).
	CPUMillis int64 `json:"cpuMillis,omitempty"`
	// MemoryBytes is the memory cap.
	MemoryBytes int64 `json:"memoryBytes,omitempty"`
	// MaxSkills is the guide's --quota-skills: how many skills may be installed.
	MaxSkills int `json:"maxSkills,omitempty"`
	// Quota holds the quota file's limits beyond the caps above (clawd
	// namespace apply-quota); nil: none.
	Quota        *quota.Limits `json:"quota,omitempty"`
	MinInstances int           `json:"minInstances,omitempty"`
	Warmup       bool          `json:"warmupOnCreate,omitempty"`
	Node         string        `json:"node,omitempty"`
	// NodeSelector is the --node-selector it was created with: a move off
	// a gone or drained node keeps to nodes with these labels.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	CreatedAt    time.Time         `json:"createdAt"`
	// Deleting is set by namespace delete; the supervisor removes the
	// namespace's objects, then the spec.
	Deleting bool `json:"deleting,omitempty"`
	Purge    bool `json:"purge,omitempty"`
	// DataVolume and SkillsVolume are the namespace's volumes, recorded once
	// it has a container: an adopted warm-pool gateway keeps its own.
	DataVolume   string `json:"dataVolume,omitempty"`
	SkillsVolume string `json:"skillsVolume,omitempty"`
	// Target is the phase the reaper or `namespace sleep` asked for:
	// Paused, Compressed, Stopped or Evicted. Empty means Running; a wake clears it.
	Target Phase `json:"target,omitempty"`
	// WakeGeneration is bumped by namespace wake; the supervisor clears a
	// Failed phase when it sees a new one.
	WakeGeneration int64 `json:"wakeGeneration,omitempty"`
	// Suspended keeps the namespace asleep: wakes are refused and its
	// tenant's requests get 402 with the reason, until it is cleared
	// (billing: an invoice unpaid past the grace period).
	Suspended *Suspension `json:"suspended,omitempty"`
}

// Suspension says why and since when a namespace is kept asleep.
type Suspension struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Status is the observed state, written by the supervisor of the owning node.
type Status struct {
	Phase       Phase  `json:"phase"`
	ContainerID string `json:"containerId,omitempty"`
	Address     string `json:"address,omitempty"`
	Node        string `json:"node,omitempty"`
	Restarts    int    `json:"restarts,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// LogTail is the last lines the gateway logged before its last crash
	// (secrets redacted), for the operator.
	LogTail []string  `json:"logTail,omitempty"`
	Since   time.Time `json:"since"`
	// NextTry is when clawd next tries to start a gateway that keeps
	// failing (zero: no try pending). `namespace wake` tries at once.
	NextTry time.Time `json:"nextTry,omitzero"`
	// WakeGeneration is the spec's generation this status has seen.
	WakeGeneration int64 `json:"wakeGeneration,omitempty"`
	// ResidentBytes and CompressedBytes are what a Compressed gateway held
	// in RAM and in the zram pool when it was squeezed (the compressed
	// size is the pool's ratio applied to the cgroup's swapped bytes).
	ResidentBytes   int64 `json:"residentBytes,omitempty"`
	CompressedBytes int64 `json:"compressedBytes,omitempty"`
}

// Namespace is a spec with its status, as listed by the API.
type Namespace struct {
	Spec   Spec   `json:"spec"`
	Status Status `json:"status"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

// ValidateName checks a namespace name.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid namespace name %q: use 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

var hostLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// NormalizeHostname lowercases a hostname and checks it is a valid DNS name
// without port, scheme or wildcard.
func NormalizeHostname(h string) (string, error) {
	n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if n == "" || len(n) > 253 {
		return "", fmt.Errorf("invalid hostname %q: must be a DNS name of 1-253 characters", h)
	}
	for _, label := range strings.Split(n, ".") {
		if !hostLabelRE.MatchString(label) {
			return "", fmt.Errorf("invalid hostname %q: each dot-separated label must be 1-63 letters, digits or '-' (no port, scheme or wildcard)", h)
		}
	}
	return n, nil
}

// Validate checks a spec before it is stored, normalizing hostnames in place.
func (s *Spec) Validate() error {
	if err := ValidateName(s.Name); err != nil {
		return err
	}
	if s.CPUMillis < 0 {
		return fmt.Errorf("invalid cpu quota: must not be negative")
	}
	if s.MemoryBytes != 0 && s.MemoryBytes < 6<<20 {
		return fmt.Errorf("invalid memory quota %d bytes: Docker needs at least 6Mi", s.MemoryBytes)
	}
	if s.MaxSkills < 0 {
		return fmt.Errorf("invalid skills quota %d: must not be negative", s.MaxSkills)
	}
	if s.MinInstances < 0 || s.MinInstances > 1 {
		return fmt.Errorf("invalid min-instances %d: must be 0 or 1 (one gateway per namespace)", s.MinInstances)
	}
	seen := map[string]bool{}
	for i, h := range s.Hostnames {
		n, err := NormalizeHostname(h)
		if err != nil {
			return err
		}
		if seen[n] {
			return fmt.Errorf("hostname %q given twice", n)
		}
		seen[n] = true
		s.Hostnames[i] = n
	}
	return nil
}

// ValidTarget reports whether p is a phase a namespace can be put to sleep in.
func ValidTarget(p Phase) bool {
	return p == PhasePaused || p == PhaseCompressed || p == PhaseStopped || p == PhaseEvicted
}

// Depth orders the sleeping phases: a deeper tier frees more and wakes slower.
func Depth(p Phase) int {
	switch p {
	case PhasePaused:
		return 1
	case PhaseCompressed:
		return 2
	case PhaseStopped:
		return 3
	case PhaseEvicted:
		return 4
	}
	return 0
}
