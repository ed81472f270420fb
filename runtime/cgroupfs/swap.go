package cgroupfs

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
)

// Memory is what a cgroup holds in RAM and in swap, in bytes.
type Memory struct {
	// Resident is the RAM charged to the cgroup: anonymous memory, page
	// cache and the kernel's memory for it (page tables, slab).
	Resident uint64
	// Swapped is the cgroup's memory swapped out (into zram, the only
	// swap clawd makes), before compression.
	Swapped uint64
}

// minKeep is the least a squeeze leaves: about the kernel's own memory for
// a gateway's cgroup (page tables, slab), which it cannot reclaim anyway.
const minKeep = 16 << 20

// memoryDir is the directory of pid's memory cgroup and whether it is a
// v2 group.
func memoryDir(pid int) (dir string, v2 bool, err error) {
	if pid <= 0 {
		return "", false, fmt.Errorf("invalid pid %d", pid)
	}
	switch cgroups.Mode() {
	case cgroups.Unified:
		group, err := cgroup2.PidGroupPath(pid)
		if err != nil {
			return "", false, fmt.Errorf("locating cgroup of pid %d: %w", pid, err)
		}
		if err := cgroup2.VerifyGroupPath(group); err != nil {
			return "", false, fmt.Errorf("cgroup path %q: %w", group, err)
		}
		return filepath.Join(v2Mountpoint, group), true, nil
	case cgroups.Legacy, cgroups.Hybrid:
		root, err := v1Root()
		if err != nil {
			return "", false, err
		}
		p, err := cgroup1.PidPath(pid)(cgroup1.Memory)
		if err != nil {
			return "", false, fmt.Errorf("locating memory cgroup of pid %d: %w", pid, err)
		}
		return filepath.Join(root, string(cgroup1.Memory), p), false, nil
	}
	return "", false, ErrUnavailable
}

// ReadMemory reads what pid's cgroup holds resident and swapped.
func ReadMemory(pid int) (Memory, error) {
	dir, v2, err := memoryDir(pid)
	if err != nil {
		return Memory{}, fmt.Errorf("reading memory of pid %d: %w", pid, err)
	}
	if v2 {
		return readMemoryV2(dir)
	}
	return readMemoryV1(dir)
}

func readMemoryV1(dir string) (Memory, error) {
	stat, err := readStat(dir, "memory.stat")
	if err != nil {
		return Memory{}, err
	}
	usage, err := readInt(dir, "memory.usage_in_bytes")
	if err != nil {
		return Memory{}, err
	}
	return Memory{Resident: uint64(max(usage, 0)), Swapped: stat["total_swap"]}, nil
}

func readMemoryV2(dir string) (Memory, error) {
	cur, err := readInt(dir, "memory.current")
	if err != nil {
		return Memory{}, err
	}
	sw, err := readInt(dir, "memory.swap.current")
	if err != nil {
		return Memory{}, err
	}
	return Memory{Resident: uint64(max(cur, 0)), Swapped: uint64(max(sw, 0))}, nil
}

// Squeeze pushes the memory of pid's cgroup out to swap until about keep
// bytes are left (at least 16 MiB), and leaves the cap as it was. The
// kernel reclaims the least recently used pages first, so what is kept is
// what the gateway touched last: what its next request most likely needs. The cgroup must be frozen (a
// paused container): nothing in it may fault pages back in meanwhile.
//
// cgroup v1: swap accounting is lifted (memory.memsw.limit_in_bytes to
// unlimited: a gateway's is its memory cap, which allows no swap), the
// cgroup's swappiness raised and its memory cap lowered, so the kernel
// reclaims it into swap; then the cap is put back. cgroup v2:
// memory.swap.max is lifted, memory.reclaim asked for everything above the
// floor, and memory.swap.max set to 0 again. Either way the swap stays
// allowed only for the squeeze; KeepResident closes it again after a thaw.
func Squeeze(pid int, keep uint64) (Memory, error) {
	keep = max(keep, minKeep)
	dir, v2, err := memoryDir(pid)
	if err != nil {
		return Memory{}, fmt.Errorf("squeezing pid %d: %w", pid, err)
	}
	if v2 {
		err = squeezeV2(dir, int64(keep))
	} else {
		err = squeezeV1(dir, int64(keep))
	}
	if err != nil {
		return Memory{}, fmt.Errorf("squeezing cgroup %s: %w", dir, err)
	}
	if v2 {
		return readMemoryV2(dir)
	}
	return readMemoryV1(dir)
}

func squeezeV1(dir string, keep int64) error {
	limit, err := readInt(dir, "memory.limit_in_bytes")
	if err != nil {
		return err
	}
	usage, err := readInt(dir, "memory.usage_in_bytes")
	if err != nil {
		return err
	}
	if usage <= keep || (limit > 0 && limit <= keep) {
		return nil // holds no more than it would keep: nothing to squeeze
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err == nil {
		if err := writeFile(dir, "memory.memsw.limit_in_bytes", "-1"); err != nil {
			return err
		}
	}
	if err := writeFile(dir, "memory.swappiness", "100"); err != nil {
		return err
	}
	// Lowering the cap below what the cgroup holds makes the kernel reclaim
	// down to it; EBUSY says it could not, so a higher floor is tried.
	var lowered bool
	for target := keep; limit <= 0 || target < limit; target *= 2 {
		err := writeFile(dir, "memory.limit_in_bytes", strconv.FormatInt(target, 10))
		if err == nil {
			lowered = true
			break
		}
		if !errors.Is(err, syscall.EBUSY) {
			_ = writeFile(dir, "memory.swappiness", "0")
			return err
		}
	}
	restore := "-1"
	if limit > 0 && uint64(limit) < v1UnlimitedMemory {
		restore = strconv.FormatInt(limit, 10)
	}
	if err := writeFile(dir, "memory.limit_in_bytes", restore); err != nil {
		return fmt.Errorf("restoring the memory cap: %w", err)
	}
	// Nothing runs in a frozen cgroup: swappiness 0 now keeps it out of
	// swap from its thaw on.
	if err := writeFile(dir, "memory.swappiness", "0"); err != nil {
		return err
	}
	if !lowered {
		return errors.New("the kernel reclaimed nothing (is swap on?)")
	}
	return nil
}

func squeezeV2(dir string, keep int64) error {
	if err := writeFile(dir, "memory.swap.max", "max"); err != nil {
		return err
	}
	defer func() { _ = writeFile(dir, "memory.swap.max", "0") }()
	cur, err := readInt(dir, "memory.current")
	if err != nil {
		return err
	}
	if cur <= keep {
		return nil
	}
	// memory.reclaim answers EAGAIN when it reclaimed less than asked;
	// what it did reclaim stays reclaimed.
	err = writeFile(dir, "memory.reclaim", strconv.FormatInt(cur-keep, 10))
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		return err
	}
	return nil
}

// KeepResident closes swap to pid's cgroup (a running gateway, or one
// just thawed): its swapped pages come back as it touches them and none go
// out again. cgroup v1: swappiness 0 (the kernel then swaps the cgroup's
// anonymous memory only when host-wide reclaim finds next to no page cache
// left), and the swap accounting limit
// back at the memory cap when what is still swapped lets the kernel accept
// it; cgroup v2: memory.swap.max 0.
func KeepResident(pid int) error {
	dir, v2, err := memoryDir(pid)
	if err != nil {
		return fmt.Errorf("closing swap of pid %d: %w", pid, err)
	}
	if v2 {
		err = writeFile(dir, "memory.swap.max", "0")
		if errors.Is(err, fs.ErrNotExist) {
			err = nil // no swap controller: nothing to close
		}
	} else {
		err = keepResidentV1(dir)
	}
	if err != nil {
		return fmt.Errorf("closing swap of cgroup %s: %w", dir, err)
	}
	return nil
}

func keepResidentV1(dir string) error {
	if err := writeFile(dir, "memory.swappiness", "0"); err != nil {
		return err
	}
	limit, err := readInt(dir, "memory.limit_in_bytes")
	if err != nil || limit <= 0 || uint64(limit) >= v1UnlimitedMemory {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err == nil {
		// EBUSY while more than the cap is still held in RAM and swap.
		if err := writeFile(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(limit, 10)); err != nil && !errors.Is(err, syscall.EBUSY) {
			return err
		}
	}
	return nil
}

func writeFile(dir, name, value string) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(value)
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("writing %q to %s: %w", value, name, werr)
	}
	return cerr
}

// readStat reads a "key value" file such as memory.stat.
func readStat(dir, name string) (map[string]uint64, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		out[k] = n
	}
	return out, sc.Err()
}
