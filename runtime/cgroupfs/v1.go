package cgroupfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"

	"github.com/clawd-dev/clawd/runtime"
)

// v1Root finds where the v1 hierarchies are mounted (normally
// /sys/fs/cgroup) once; the library knows it but only hands out subsystems.
var v1Root = sync.OnceValues(func() (string, error) {
	subsystems, err := cgroup1.Default()
	if err != nil {
		return "", err
	}
	for _, s := range subsystems {
		p, ok := s.(interface{ Path(string) string })
		if ok && s.Name() == cgroup1.Memory {
			return filepath.Dir(p.Path("/")), nil
		}
	}
	return "", errors.New("memory cgroup controller not mounted")
})

// v1Hierarchy limits the library to the controllers we read, so a missing
// optional controller (hugetlb, rdma, …) cannot fail a read.
func v1Hierarchy(root string) cgroup1.Hierarchy {
	return func() ([]cgroup1.Subsystem, error) {
		return []cgroup1.Subsystem{
			cgroup1.NewCpuacct(root),
			// Swap and kernel memory accounting are optional kernel features
			// and not part of Stats.
			cgroup1.NewMemory(root, cgroup1.IgnoreModules("memsw", "kmem", "kmem.tcp")),
			cgroup1.NewPids(root),
		}, nil
	}
}

func readPidV1(pid int) (runtime.Stats, error) {
	root, err := v1Root()
	if err != nil {
		return runtime.Stats{}, err
	}
	return readV1(root, cgroup1.PidPath(pid))
}

// readV1 reads usage from the v1 hierarchies under root; path maps each
// controller to the cgroup's path inside that hierarchy.
func readV1(root string, path cgroup1.Path) (runtime.Stats, error) {
	cg, err := cgroup1.Load(path, cgroup1.WithHierarchy(v1Hierarchy(root)))
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("loading cgroup: %w", err)
	}
	m, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return runtime.Stats{}, fmt.Errorf("reading cgroup: %w", err)
	}
	var st runtime.Stats
	if m.CPU != nil && m.CPU.Usage != nil {
		st.CPUUsage = time.Duration(m.CPU.Usage.Total)
	}
	if m.Memory != nil {
		if m.Memory.Usage != nil {
			st.MemoryWorkingSet = workingSet(m.Memory.Usage.Usage, m.Memory.TotalInactiveFile)
			st.MemoryLimit = memoryLimit(m.Memory.Usage.Limit)
		}
	}
	if m.MemoryOomControl != nil {
		st.OOMKills = m.MemoryOomControl.OomKill
	}
	if m.Pids != nil {
		st.Pids = m.Pids.Current
	}
	return st, nil
}

func readLimitsPidV1(pid int) (Limits, error) {
	root, err := v1Root()
	if err != nil {
		return Limits{}, err
	}
	return readLimitsV1(root, cgroup1.PidPath(pid))
}

// readLimitsV1 reads the caps from the cpu, memory and pids hierarchies. The
// library has no reader for them, so the files are read directly.
func readLimitsV1(root string, path cgroup1.Path) (Limits, error) {
	dir := func(n cgroup1.Name) (string, error) {
		p, err := path(n)
		if err != nil {
			return "", fmt.Errorf("locating %s cgroup: %w", n, err)
		}
		return filepath.Join(root, string(n), p), nil
	}
	var l Limits
	cpu, err := dir(cgroup1.Cpu)
	if err != nil {
		return Limits{}, err
	}
	if l.CPUQuota, err = readInt(cpu, "cpu.cfs_quota_us"); err != nil {
		return Limits{}, err
	}
	if l.CPUPeriod, err = readInt(cpu, "cpu.cfs_period_us"); err != nil {
		return Limits{}, err
	}
	mem, err := dir(cgroup1.Memory)
	if err != nil {
		return Limits{}, err
	}
	limit, err := readInt(mem, "memory.limit_in_bytes")
	if err != nil {
		return Limits{}, err
	}
	if limit > 0 {
		l.MemoryLimit = memoryLimit(uint64(limit))
	}
	pids, err := dir(cgroup1.Pids)
	if err != nil {
		return Limits{}, err
	}
	if l.PidsMax, err = readInt(pids, "pids.max"); err != nil {
		return Limits{}, err
	}
	return l, nil
}
