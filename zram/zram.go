// Package zram sets up the compressed swap device the Compressed sleep tier
// squeezes frozen gateways into. clawd only ever touches the one device it
// made itself: it asks the kernel for a fresh one (zram-control/hot_add),
// stamps a swap header with a UUID of its own, and records device and UUID
// in a state file. A restart finds its device again by that file (frozen
// namespaces' memory lives in it); any other swap on the host is left alone.
package zram

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/units"
)

// Options say whether and how big a device to make.
type Options struct {
	// Size is "auto" (a quarter of the host's memory), "off", or a size
	// such as 6Gi.
	Size string
	// Algorithm is the compressor: "auto" (or "") takes the first of
	// Algorithms the kernel offers, else one the kernel offers by name.
	Algorithm string
	// StateFile records the device clawd made (in the data dir).
	StateFile string
	Logger    hclog.Logger
}

// ParseSize checks a --memory.zram value: "auto", "off" or a size.
func ParseSize(s string) error {
	switch s {
	case "", "auto", "off":
		return nil
	}
	n, err := units.ParseBytes(s)
	if err != nil {
		return fmt.Errorf("--memory.zram %q: want auto, off or a size such as 4Gi: %w", s, err)
	}
	if n < 16<<20 {
		return fmt.Errorf("--memory.zram %q: at least 16Mi", s)
	}
	return nil
}

// Status is what `clawd status` shows about the tier's swap.
type Status struct {
	// Enabled is true when the Compressed tier can be used.
	Enabled bool `json:"enabled"`
	// Reason says why it cannot, when it cannot.
	Reason    string `json:"reason,omitempty"`
	Device    string `json:"device,omitempty"`
	DiskSize  int64  `json:"diskSize,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Pool      Pool   `json:"pool"`
}

// Pool is the device's occupancy, from /sys/block/zramN/mm_stat.
type Pool struct {
	// Original is what was swapped in, before compression.
	Original uint64 `json:"originalBytes"`
	// Compressed is what it takes compressed.
	Compressed uint64 `json:"compressedBytes"`
	// Used is the memory the pool takes, allocator overhead included.
	Used uint64 `json:"usedBytes"`
}

// Device is clawd's zram swap device, or the reason there is none.
type Device struct {
	sys    string // /sys, or a test's copy
	status Status
	num    int
	mu     sync.Mutex
}

// state is the state file's content.
type state struct {
	Device int    `json:"device"`
	UUID   string `json:"uuid"`
}

// swapPriority ranks clawd's device above any disk swap the host has.
const swapPriority = 100

// Setup finds the device an earlier run made, else makes one. It never
// fails clawd up: where there is no zram, no root or the operator said
// off, the returned Device says why and the tier is skipped.
func Setup(opts Options) *Device {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	d := &Device{sys: "/sys", num: -1}
	reason := d.setup(opts, log)
	if reason != "" {
		d.status = Status{Reason: reason}
		log.Info("compressed sleep tier off", "reason", reason)
		return d
	}
	d.status.Enabled = true
	log.Info("compressed sleep tier on", "device", d.status.Device, "size", units.FormatBytes(d.status.DiskSize), "algorithm", d.status.Algorithm)
	return d
}

// Off is a Device for a host without the tier, saying why.
func Off(reason string) *Device { return &Device{status: Status{Reason: reason}, num: -1} }

func (d *Device) setup(opts Options, log hclog.Logger) string {
	if opts.Size == "off" {
		return "turned off (--memory.zram=off)"
	}
	if os.Geteuid() != 0 {
		return "clawd is not running as root, so it cannot set up zram swap"
	}
	stateFile, err := filepath.Abs(opts.StateFile)
	if err != nil {
		return "finding the zram state file: " + err.Error()
	}
	opts.StateFile = stateFile
	d.sweep(log)
	if num, ok := d.adopt(opts.StateFile, log); ok {
		d.fill(num)
		return ""
	}
	control := filepath.Join(d.sys, "class/zram-control/hot_add")
	if _, err := os.Stat(control); errors.Is(err, fs.ErrNotExist) {
		// The module may just not be loaded; modprobe is best effort.
		_ = exec.Command("modprobe", "zram").Run()
	}
	if _, err := os.Stat(control); err != nil {
		return "the kernel has no zram (no /sys/class/zram-control; modprobe zram failed)"
	}
	size, err := diskSize(opts.Size)
	if err != nil {
		return err.Error()
	}
	num, err := d.make(size, opts.Algorithm, opts.StateFile)
	if err != nil {
		return "setting up zram swap failed: " + err.Error()
	}
	d.fill(num)
	return ""
}

// adopt finds the device the state file names, if it is still swap with
// the UUID clawd stamped on it (a restart of clawd; after a reboot it is
// gone, and so is the state it held).
func (d *Device) adopt(stateFile string, log hclog.Logger) (int, bool) {
	b, err := os.ReadFile(stateFile)
	if err != nil {
		return 0, false
	}
	var s state
	if json.Unmarshal(b, &s) != nil {
		return 0, false
	}
	dev := fmt.Sprintf("/dev/zram%d", s.Device)
	if active, _ := swapActive(dev); active {
		if uuid, err := readUUID(dev); err == nil && uuid == s.UUID {
			log.Info("found the zram swap device of an earlier run", "device", dev)
			return s.Device, true
		}
	}
	log.Info("the zram device of an earlier run is gone (a reboot?); making a new one", "device", dev)
	_ = os.Remove(stateFile)
	return 0, false
}

func (d *Device) make(size int64, algorithm, stateFile string) (num int, err error) {
	b, err := os.ReadFile(filepath.Join(d.sys, "class/zram-control/hot_add"))
	if err != nil {
		return 0, fmt.Errorf("adding a zram device: %w", err)
	}
	if num, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return 0, fmt.Errorf("adding a zram device: %q: %w", b, err)
	}
	defer func() {
		if err != nil {
			_ = os.WriteFile(filepath.Join(d.sys, "class/zram-control/hot_remove"), []byte(strconv.Itoa(num)), 0)
		}
	}()
	block := filepath.Join(d.sys, "block", fmt.Sprintf("zram%d", num))
	algo, err := chooseAlgorithm(block, algorithm)
	if err != nil {
		return 0, err
	}
	if algo != "" {
		if err := os.WriteFile(filepath.Join(block, "comp_algorithm"), []byte(algo), 0); err != nil {
			return 0, fmt.Errorf("choosing %s: %w", algo, err)
		}
	}
	if err := os.WriteFile(filepath.Join(block, "disksize"), []byte(strconv.FormatInt(size, 10)), 0); err != nil {
		return 0, fmt.Errorf("sizing zram%d: %w", num, err)
	}
	dev := fmt.Sprintf("/dev/zram%d", num)
	uuid, err := writeSwapHeader(dev, size)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(stateFile), 0o700); err != nil {
		return 0, err
	}
	sb, _ := json.Marshal(state{Device: num, UUID: uuid})
	if err := os.WriteFile(stateFile, sb, 0o600); err != nil {
		return 0, fmt.Errorf("recording the zram device: %w", err)
	}
	if err := d.register(num, uuid, stateFile); err != nil {
		_ = os.Remove(stateFile)
		return 0, err
	}
	if err := swapon(dev, swapPriority); err != nil {
		_ = os.Remove(stateFile)
		d.unregister(num)
		return 0, swaponError(dev, err)
	}
	return num, nil
}

// swaponError explains the one failure an operator can act on: the
// kernel allows only so many swap devices (MAX_SWAPFILES, about 29) and
// answers EPERM past it.
func swaponError(dev string, err error) error {
	if errors.Is(err, syscall.EPERM) {
		if n := swapCount(); n >= 20 {
			return fmt.Errorf("swapon %s: %w: the kernel's limit of swap devices is probably reached (/proc/swaps lists %d); swapoff the ones no longer needed, or start clawd with --memory.zram=off", dev, err, n)
		}
	}
	return fmt.Errorf("swapon %s: %w", dev, err)
}

// swapCount is how many swap areas /proc/swaps lists.
func swapCount() int {
	b, err := os.ReadFile("/proc/swaps")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n
}

func (d *Device) fill(num int) {
	block := filepath.Join(d.sys, "block", fmt.Sprintf("zram%d", num))
	d.num = num
	d.status.Device = fmt.Sprintf("/dev/zram%d", num)
	if b, err := os.ReadFile(filepath.Join(block, "disksize")); err == nil {
		d.status.DiskSize, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	if b, err := os.ReadFile(filepath.Join(block, "comp_algorithm")); err == nil {
		d.status.Algorithm = selected(string(b))
	}
}

// Algorithms is the order "auto" prefers compressors in, chosen by
// measurement (integration/bench_density_test.go, README): the same real
// OpenClaw 2026.9.6 gateway squeezed alternately into lz4 and lzo-rle
// devices on this 6.18 kernel gave 2.47–2.56× with lz4 and 2.62–2.75× with
// lzo-rle (the pool's memory per MiB swapped: 0.40–0.42 vs 0.38–0.39), and
// wakes no slower by any margin the run-to-run noise lets one see: lz4's
// faster decompression saves microseconds per page, while a wake reads a
// few thousand pages. lzo-rle's smaller pool is ~25 MiB per gateway.
var Algorithms = []string{"lzo-rle", "lz4"}

// chooseAlgorithm picks the compressor: want when the kernel offers it
// (an error when not), else for "auto" the first of Algorithms the kernel
// offers, else "" (the kernel's default).
func chooseAlgorithm(block, want string) (string, error) {
	b, err := os.ReadFile(filepath.Join(block, "comp_algorithm"))
	if err != nil {
		return "", nil
	}
	offered := strings.Fields(strings.NewReplacer("[", "", "]", "").Replace(string(b)))
	if want != "" && want != "auto" {
		if slices.Contains(offered, want) {
			return want, nil
		}
		return "", fmt.Errorf("the kernel offers no %s compressor (it offers %s)", want, strings.Join(offered, ", "))
	}
	for _, a := range Algorithms {
		if slices.Contains(offered, a) {
			return a, nil
		}
	}
	return "", nil
}

// ParseAlgorithm checks a --memory.zramAlgorithm value: "auto" or a
// compressor's name (whether the kernel offers it is known at setup).
func ParseAlgorithm(s string) error {
	if s == "" || s == "auto" {
		return nil
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("--memory.zramAlgorithm %q: want auto or a compressor such as lzo-rle or lz4", s)
		}
	}
	return nil
}

// selected is the bracketed entry of comp_algorithm.
func selected(s string) string {
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "[") {
			return strings.Trim(f, "[]")
		}
	}
	return ""
}

func diskSize(s string) (int64, error) {
	if s != "" && s != "auto" {
		return units.ParseBytes(s)
	}
	total, err := memTotal()
	if err != nil {
		return 0, fmt.Errorf("sizing zram (set --memory.zram): %w", err)
	}
	return total / 4, nil
}

func memTotal() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}

// Status reports the device and its pool now.
func (d *Device) Status() Status {
	st := d.status
	if d.num >= 0 {
		st.Pool, _ = d.Pool()
	}
	return st
}

// Unavailable is "" when the Compressed tier can be used, else why not.
func (d *Device) Unavailable() string {
	if d == nil {
		return "no zram device"
	}
	return d.status.Reason
}

// Pool reads the device's mm_stat: original and compressed data size and
// the memory the pool uses.
func (d *Device) Pool() (Pool, error) {
	if d.num < 0 {
		return Pool{}, nil
	}
	b, err := os.ReadFile(filepath.Join(d.sys, "block", fmt.Sprintf("zram%d", d.num), "mm_stat"))
	if err != nil {
		return Pool{}, err
	}
	return parseMMStat(string(b))
}

func parseMMStat(s string) (Pool, error) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return Pool{}, fmt.Errorf("parsing mm_stat %q: want at least 3 fields", s)
	}
	var v [3]uint64
	for i := range v {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return Pool{}, fmt.Errorf("parsing mm_stat %q: %w", s, err)
		}
		v[i] = n
	}
	return Pool{Original: v[0], Compressed: v[1], Used: v[2]}, nil
}

// Compressed estimates what swapped bytes of one cgroup take in the pool:
// the kernel counts swap per cgroup but compression only for the whole
// device, so the device's compression ratio is applied, never above 1.
// The allocator's overhead (mem_used_total beyond compr_data_size) is the
// pool's, not a namespace's: it lingers after pages leave, and with other
// swap areas of the same priority on the host (two clawds, as tests run
// them) the kernel spreads pages across them, so a device's used memory
// can be several times the original data it still holds. With an empty
// pool it assumes 3× (what OpenClaw gateways measured with lzo-rle and lz4).
func (d *Device) Compressed(swapped uint64) uint64 {
	p, err := d.Pool()
	if err != nil || p.Original == 0 {
		return swapped / 3
	}
	return uint64(float64(swapped) * min(float64(p.Compressed)/float64(p.Original), 1))
}

// Release switches off and removes the device a state file names, if it is
// still clawd's, and the state file: tests tidy up with it. Pages still in
// it are read back into their cgroups first (swapoff).
func Release(stateFile string) error {
	b, err := os.ReadFile(stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("reading %s: %w", stateFile, err)
	}
	dev := fmt.Sprintf("/dev/zram%d", s.Device)
	if uuid, err := readUUID(dev); err != nil || uuid != s.UUID {
		(&Device{sys: "/sys"}).unregister(s.Device)
		return os.Remove(stateFile) // not ours any more
	}
	if err := (&Device{sys: "/sys"}).remove(s.Device); err != nil {
		return err
	}
	return os.Remove(stateFile)
}

// remove switches device num off if it is swap, removes it, and forgets
// its host-wide record. Pages still in it are read back into their
// cgroups first (swapoff).
func (d *Device) remove(num int) error {
	dev := fmt.Sprintf("/dev/zram%d", num)
	if active, _ := swapActive(dev); active {
		if err := swapoff(dev); err != nil {
			return fmt.Errorf("swapoff %s: %w", dev, err)
		}
	}
	if err := os.WriteFile(filepath.Join(d.sys, "class/zram-control/hot_remove"), []byte(strconv.Itoa(num)), 0); err != nil {
		return fmt.Errorf("removing zram%d: %w", num, err)
	}
	d.unregister(num)
	return nil
}

// swapActive reports whether dev is listed in /proc/swaps.
func swapActive(dev string) (bool, error) {
	b, err := os.ReadFile("/proc/swaps")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 && f[0] == dev {
			return true, nil
		}
	}
	return false, nil
}

// The swap header (linux/swap.h, union swap_header): version, last page
// and bad-page count after the first 1 KiB, then the UUID; the magic ends
// the first page.
const (
	headerInfo = 1024
	headerUUID = headerInfo + 12
)

func writeSwapHeader(dev string, size int64) (string, error) {
	page := os.Getpagesize()
	pages := size / int64(page)
	if pages < 10 {
		return "", fmt.Errorf("%s: too small for swap", dev)
	}
	h := make([]byte, page)
	binary.LittleEndian.PutUint32(h[headerInfo:], 1)
	binary.LittleEndian.PutUint32(h[headerInfo+4:], uint32(pages-1))
	var uuid [16]byte
	if _, err := rand.Read(uuid[:]); err != nil {
		return "", err
	}
	uuid[6] = uuid[6]&0x0f | 0x40
	uuid[8] = uuid[8]&0x3f | 0x80
	copy(h[headerUUID:], uuid[:])
	copy(h[page-10:], "SWAPSPACE2")
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return "", fmt.Errorf("writing the swap header: %w", err)
	}
	if _, err := f.WriteAt(h, 0); err != nil {
		f.Close()
		return "", fmt.Errorf("writing the swap header: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return hex.EncodeToString(uuid[:]), f.Close()
}

func readUUID(dev string) (string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", err
	}
	defer f.Close()
	page := os.Getpagesize()
	h := make([]byte, page)
	if _, err := f.ReadAt(h, 0); err != nil {
		return "", err
	}
	if string(h[page-10:]) != "SWAPSPACE2" {
		return "", fmt.Errorf("%s holds no swap header", dev)
	}
	return hex.EncodeToString(h[headerUUID : headerUUID+16]), nil
}

// swapFlagPrefer says the priority in the low bits is meant (swap.h).
const swapFlagPrefer = 0x8000

func swapon(dev string, prio int) error {
	p, err := syscall.BytePtrFromString(dev)
	if err != nil {
		return err
	}
	if _, _, e := syscall.Syscall(syscall.SYS_SWAPON, uintptr(unsafe.Pointer(p)), uintptr(swapFlagPrefer|prio&0x7fff), 0); e != 0 {
		return e
	}
	return nil
}

func swapoff(dev string) error {
	p, err := syscall.BytePtrFromString(dev)
	if err != nil {
		return err
	}
	if _, _, e := syscall.Syscall(syscall.SYS_SWAPOFF, uintptr(unsafe.Pointer(p)), 0, 0); e != 0 {
		return e
	}
	return nil
}
