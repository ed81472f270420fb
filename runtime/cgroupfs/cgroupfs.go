// Package cgroupfs reads a container's resource usage and caps straight from
// the cgroup filesystem of the host, given the pid of a process in the
// container. Reading the files is cheaper than Docker's stats endpoint (which
// samples for a second) and works the same for every runtime.
package cgroupfs

import (
	"errors"
	"fmt"
	"time"

	"github.com/containerd/cgroups/v3"

	"github.com/clawd-dev/clawd/runtime"
)

// ErrUnavailable is returned when the host has no cgroup filesystem mounted.
var ErrUnavailable = errors.New("no cgroup filesystem mounted")

// Limits are the resource caps written in a cgroup's control files, in the
// kernel's units. Integration tests compare them with what was asked of
// Docker; the supervisor can use them to verify a container's caps.
type Limits struct {
	// CPUQuota is the CFS quota in microseconds per CPUPeriod, -1 when the
	// CPU is not capped.
	CPUQuota int64
	// CPUPeriod is the CFS period in microseconds.
	CPUPeriod int64
	// MemoryLimit is the memory cap in bytes, 0 when memory is not capped.
	MemoryLimit uint64
	// PidsMax caps the number of tasks, -1 when not capped.
	PidsMax int64
}

// NanoCPUs converts the CFS bandwidth to Docker's unit (1e9 = one CPU);
// 0 when the CPU is not capped.
func (l Limits) NanoCPUs() int64 {
	if l.CPUQuota < 0 || l.CPUPeriod <= 0 {
		return 0
	}
	return l.CPUQuota * 1e9 / l.CPUPeriod
}

// ReadPid reads the usage of the cgroup that pid belongs to. MemoryLimit is 0
// when memory is not capped.
func ReadPid(pid int) (runtime.Stats, error) {
	if pid <= 0 {
		return runtime.Stats{}, fmt.Errorf("reading cgroup stats: invalid pid %d", pid)
	}
	var (
		st  runtime.Stats
		err error
	)
	switch cgroups.Mode() {
	case cgroups.Unified:
		st, err = readPidV2(pid)
	case cgroups.Legacy, cgroups.Hybrid:
		// In hybrid mode the controllers live on the v1 hierarchies; the v2
		// mount only carries process tracking.
		st, err = readPidV1(pid)
	default:
		err = ErrUnavailable
	}
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("reading cgroup stats of pid %d: %w", pid, err)
	}
	st.ReadAt = time.Now()
	return st, nil
}

// ReadLimits reads the CPU, memory and pids caps of the cgroup that pid
// belongs to.
func ReadLimits(pid int) (Limits, error) {
	if pid <= 0 {
		return Limits{}, fmt.Errorf("reading cgroup limits: invalid pid %d", pid)
	}
	var (
		l   Limits
		err error
	)
	switch cgroups.Mode() {
	case cgroups.Unified:
		l, err = readLimitsPidV2(pid)
	case cgroups.Legacy, cgroups.Hybrid:
		l, err = readLimitsPidV1(pid)
	default:
		err = ErrUnavailable
	}
	if err != nil {
		return Limits{}, fmt.Errorf("reading cgroup limits of pid %d: %w", pid, err)
	}
	return l, nil
}

// workingSet is what the kernel would not give back under pressure: usage
// minus the inactive page cache (the same figure kubelet and docker stats use).
func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile >= usage {
		return 0
	}
	return usage - inactiveFile
}
