package cgroupfs

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// readFile returns the trimmed content of a single-value cgroup file.
func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readOptional is readFile for a cap file: the root cgroup has no cap files
// at all (pids.max on v1, cpu.max and friends on v2), which means "no cap",
// reported as ifMissing.
func readOptional(dir, name, ifMissing string) (string, error) {
	s, err := readFile(dir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return ifMissing, nil
	}
	return s, err
}

// readInt reads a single-value cap file; "max" and a missing file read as -1.
func readInt(dir, name string) (int64, error) {
	s, err := readOptional(dir, name, "max")
	if err != nil {
		return 0, err
	}
	v, err := parseMax(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return v, nil
}

// parseInt parses a single signed value such as cpu.cfs_quota_us ("-1" when
// unlimited).
func parseInt(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing %q: %w", s, err)
	}
	return v, nil
}

// parseMax parses a v2 value that is either a number or "max" (returned as
// -1), the form of pids.max on both versions and memory.max on v2.
func parseMax(s string) (int64, error) {
	if s == "max" {
		return -1, nil
	}
	return parseInt(s)
}

// parseCPUMax parses v2's cpu.max, "$QUOTA $PERIOD" where QUOTA may be "max".
func parseCPUMax(s string) (quota, period int64, err error) {
	fields := strings.Fields(s)
	if len(fields) != 2 {
		return 0, 0, fmt.Errorf("parsing cpu.max %q: want \"$QUOTA $PERIOD\"", s)
	}
	if quota, err = parseMax(fields[0]); err != nil {
		return 0, 0, fmt.Errorf("parsing cpu.max quota: %w", err)
	}
	if period, err = parseInt(fields[1]); err != nil {
		return 0, 0, fmt.Errorf("parsing cpu.max period: %w", err)
	}
	return quota, period, nil
}

// v1UnlimitedMemory is the smallest memory.limit_in_bytes we read as "no
// cap": v1 reports PAGE_COUNTER_MAX rounded to pages (9223372036854771712 on
// 4k pages) instead of a keyword.
const v1UnlimitedMemory = uint64(1) << 62

// memoryLimit normalises both versions' "no cap" to 0.
func memoryLimit(v uint64) uint64 {
	if v >= v1UnlimitedMemory || v == math.MaxUint64 {
		return 0
	}
	return v
}
