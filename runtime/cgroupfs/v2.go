package cgroupfs

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"

	"github.com/clawd-dev/clawd/runtime"
)

// v2Mountpoint is where the unified hierarchy lives on a v2-only host.
const v2Mountpoint = "/sys/fs/cgroup"

func readPidV2(pid int) (runtime.Stats, error) {
	group, err := cgroup2.PidGroupPath(pid)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("locating cgroup: %w", err)
	}
	return readV2(v2Mountpoint, group)
}

// readV2 reads usage from the v2 group under mountpoint.
func readV2(mountpoint, group string) (runtime.Stats, error) {
	m, err := cgroup2.Load(group, cgroup2.WithMountpoint(mountpoint))
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("loading cgroup %s: %w", group, err)
	}
	metrics, err := m.StatFiltered(cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatMemoryEvents | cgroup2.StatPids)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("reading cgroup %s: %w", group, err)
	}
	var st runtime.Stats
	if metrics.CPU != nil {
		st.CPUUsage = time.Duration(metrics.CPU.UsageUsec) * time.Microsecond
	}
	if metrics.Memory != nil {
		st.MemoryWorkingSet = workingSet(metrics.Memory.Usage, metrics.Memory.InactiveFile)
		st.MemoryLimit = memoryLimit(metrics.Memory.UsageLimit)
	}
	if metrics.MemoryEvents != nil {
		st.OOMKills = metrics.MemoryEvents.OomKill
	}
	if metrics.Pids != nil {
		st.Pids = metrics.Pids.Current
	}
	return st, nil
}

func readLimitsPidV2(pid int) (Limits, error) {
	group, err := cgroup2.PidGroupPath(pid)
	if err != nil {
		return Limits{}, fmt.Errorf("locating cgroup: %w", err)
	}
	if err := cgroup2.VerifyGroupPath(group); err != nil {
		return Limits{}, fmt.Errorf("cgroup path %q: %w", group, err)
	}
	return readLimitsV2(filepath.Join(v2Mountpoint, group))
}

// readLimitsV2 reads cpu.max, memory.max and pids.max of the group at dir.
func readLimitsV2(dir string) (Limits, error) {
	var l Limits
	s, err := readOptional(dir, "cpu.max", "max 100000")
	if err != nil {
		return Limits{}, err
	}
	if l.CPUQuota, l.CPUPeriod, err = parseCPUMax(s); err != nil {
		return Limits{}, err
	}
	mem, err := readInt(dir, "memory.max")
	if err != nil {
		return Limits{}, err
	}
	if mem > 0 {
		l.MemoryLimit = uint64(mem)
	}
	if l.PidsMax, err = readInt(dir, "pids.max"); err != nil {
		return Limits{}, err
	}
	return l, nil
}
