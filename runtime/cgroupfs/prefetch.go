package cgroupfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Prefetch reads the swapped memory of every process in pid's cgroup back
// from swap, ahead of the processes touching it: process_madvise
// (MADV_WILLNEED, Linux 5.10) over each private writable mapping. A
// thawed gateway otherwise pays a major fault (a 4 KiB decompression)
// each time it touches a page still in zram, one after the other, while
// its tenant's first request waits; this does the same work on clawd's
// thread, on the other core, in a few hundred milliseconds for a real
// gateway. What the gateway touches first still faults on its own; it
// then finds most pages already read. Returns the bytes of mappings
// advised (not all of them were swapped).
func Prefetch(pid int) (uint64, error) {
	dir, _, err := memoryDir(pid)
	if err != nil {
		return 0, fmt.Errorf("prefetching pid %d: %w", pid, err)
	}
	procs, err := os.ReadFile(dir + "/cgroup.procs")
	if err != nil {
		return 0, fmt.Errorf("prefetching cgroup %s: %w", dir, err)
	}
	var total uint64
	var errs []error
	for _, f := range strings.Fields(string(procs)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		n, err := prefetchProcess(p)
		total += n
		if err != nil && !errors.Is(err, syscall.ESRCH) { // gone meanwhile
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// iovec is struct iovec, with the address kept as an integer: the
// memory is another process's, never dereferenced here.
type iovec struct{ base, len uintptr }

func prefetchProcess(pid int) (uint64, error) {
	ranges, err := writablePrivate(pid)
	if err != nil {
		return 0, err
	}
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, fmt.Errorf("prefetching pid %d: pidfd_open: %w", pid, err)
	}
	defer unix.Close(pfd)
	var total uint64
	for _, r := range ranges {
		// One range per call: a mapping unmapped since maps was read
		// (ENOMEM) must not stop the rest.
		_, _, errno := unix.Syscall6(unix.SYS_PROCESS_MADVISE, uintptr(pfd), uintptr(unsafe.Pointer(&r)), 1, unix.MADV_WILLNEED, 0, 0)
		switch errno {
		case 0:
			total += uint64(r.len)
		case unix.ENOMEM, unix.EINVAL:
		default:
			return total, fmt.Errorf("prefetching pid %d: process_madvise: %w", pid, errno)
		}
	}
	return total, nil
}

// writablePrivate lists pid's private writable mappings that are not
// backed by a file: the anonymous memory (heaps, stacks, the JavaScript
// heap) that swap holds.
func writablePrivate(pid int) ([]iovec, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, syscall.ESRCH
		}
		return nil, err
	}
	defer f.Close()
	return parseMaps(f)
}

func parseMaps(r io.Reader) ([]iovec, error) {
	var out []iovec
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// 7f9f8c000000-7f9f8d1e5000 rw-p 00000000 00:00 0   [name]
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 || len(fs[1]) < 4 || fs[1][:2] != "rw" || fs[1][3] != 'p' || fs[4] != "0" {
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || b <= a {
			continue
		}
		out = append(out, iovec{base: uintptr(a), len: uintptr(b - a)})
	}
	return out, sc.Err()
}
