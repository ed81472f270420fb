package volumes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// makeImage creates image as a sparse file of size bytes holding an empty
// ext4 filesystem. It is built under a temporary name and renamed into
// place, so a crash leaves either no image or a whole one.
func makeImage(ctx context.Context, image string, size int64) error {
	tmp := image + ".new"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("creating volume image: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sizing volume image: %w", err)
	}
	// -O encrypt: fscrypt can be turned on later without a reformat.
	// -m 0: no blocks reserved for root (the gateway is not root; the cap
	// is the tenant's). -b 4096: fscrypt wants the page size, and
	// mkfs picks 1 KiB blocks for small filesystems.
	// lazy_itable_init=1 leaves zeroing inode tables to the kernel, so
	// creating a large sparse image stays fast and stays sparse.
	if err := run(ctx, "mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0", "-O", "encrypt",
		"-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, image); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("placing volume image: %w", err)
	}
	return nil
}

// growOnline extends a mounted image's file, tells its loop device, and
// grows the filesystem in place (resize2fs on a mounted ext4 asks the
// kernel, which wants CAP_SYS_RESOURCE).
func growOnline(ctx context.Context, image, dev string, size int64) error {
	if err := os.Truncate(image, size); err != nil {
		return fmt.Errorf("extending volume image: %w", err)
	}
	if err := setCapacity(dev); err != nil {
		return err
	}
	return run(ctx, "resize2fs", dev)
}

// growOffline grows an image that is not mounted: checked first, as
// resize2fs requires, then extended and grown by resize2fs itself.
func growOffline(ctx context.Context, image string, size int64) error {
	if err := os.Truncate(image, size); err != nil {
		return fmt.Errorf("extending volume image: %w", err)
	}
	// -p repairs what is safe without asking; exit 1 means it did.
	if err := run(ctx, "e2fsck", "-f", "-p", image); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			return err
		}
	}
	return run(ctx, "resize2fs", image)
}

// canGrowOnline reports whether this process holds CAP_SYS_RESOURCE,
// which the kernel wants for growing a mounted ext4 (EXT4_IOC_RESIZE_FS).
func canGrowOnline() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_SYS_RESOURCE/32].Effective&(1<<(unix.CAP_SYS_RESOURCE%32)) != 0
}

// imageSize returns the image's apparent size; 0 when it does not exist.
func imageSize(image string) (int64, error) {
	fi, err := os.Stat(image)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// allocated returns the bytes a (sparse) file takes on disk.
func allocated(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512, nil
	}
	return fi.Size(), nil
}

// run runs an e2fsprogs tool; its error names the tool and what it said.
func run(ctx context.Context, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("%s: %w: %s", name, err, msg)
	}
	return nil
}
