package volumes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Loop devices are set up with ioctls rather than the losetup binary: one
// LOOP_CONFIGURE sets the backing file and LO_FLAGS_AUTOCLEAR atomically,
// errors come back as errnos (EBUSY: another process took the free device
// first, so try the next), and nothing depends on util-linux's output
// format. AUTOCLEAR makes the kernel detach the device when its last user
// goes: clawd holds the device open only until the filesystem is mounted,
// so a crash between attach and mount leaks no device, and an unmount
// frees it. clawd never detaches a device by number, so it cannot detach
// one it did not make.

// attach binds image to a free loop device and returns the device's path
// and an open handle to it, which keeps it attached until closed.
func attach(image string) (string, *os.File, error) {
	img, err := os.OpenFile(image, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("opening volume image: %w", err)
	}
	defer img.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("opening the loop control device: %w", err)
	}
	defer ctl.Close()
	var cfg unix.LoopConfig
	cfg.Fd = uint32(img.Fd())
	cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
	copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], image)
	for attempt := 0; ; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", nil, fmt.Errorf("finding a free loop device: %w", err)
		}
		dev := "/dev/loop" + strconv.Itoa(n)
		f, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", nil, fmt.Errorf("opening %s: %w", dev, err)
		}
		err = ioctlPtr(int(f.Fd()), unix.LOOP_CONFIGURE, &cfg)
		if err == nil {
			return dev, f, nil
		}
		f.Close()
		// Another process (a losetup, another clawd) took it between
		// GET_FREE and CONFIGURE.
		if !errors.Is(err, unix.EBUSY) || attempt >= 20 {
			return "", nil, fmt.Errorf("attaching %s to %s: %w", image, dev, err)
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
}

// setCapacity tells the loop device its backing file grew.
func setCapacity(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := unix.IoctlRetInt(int(f.Fd()), unix.LOOP_SET_CAPACITY); err != nil {
		return fmt.Errorf("LOOP_SET_CAPACITY on %s: %w", dev, err)
	}
	return nil
}

// mounted describes what is mounted at a mount point.
type mounted struct {
	Device  string // /dev/loopN
	Backing string // the loop device's backing file
	FSType  string
}

// mountAt returns what is mounted at dir (ok false: nothing). It reads
// /proc/self/mountinfo and the loop device's backing file from sysfs.
func mountAt(dir string) (mounted, bool, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return mounted{}, false, err
	}
	var found mounted
	var ok bool
	for _, line := range strings.Split(string(data), "\n") {
		// id parent major:minor root mountpoint opts [optional...] - fstype source superopts
		f := strings.Fields(line)
		if len(f) < 10 || unescapeMount(f[4]) != dir {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			continue
		}
		// The last mount at dir is the one on top.
		found, ok = mounted{Device: unescapeMount(f[sep+2]), FSType: f[sep+1]}, true
		b, err := os.ReadFile(filepath.Join("/sys/dev/block", f[2], "loop", "backing_file"))
		if err == nil {
			found.Backing = strings.TrimSpace(string(b))
		} else {
			found.Backing = ""
		}
	}
	return found, ok, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
