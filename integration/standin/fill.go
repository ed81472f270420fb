package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
)

// fill is `standin fill PATH MIB`: it writes MIB MiB to PATH, one MiB at a
// time with an fsync at the end, like `dd if=/dev/zero of=PATH bs=1M
// count=MIB conv=fsync`, for tests that fill a volume from inside a
// gateway container that has no shell. It prints the bytes written and,
// on failure, the error (exit 1). `standin write PATH TEXT` writes TEXT.
func fill(args []string, stdout io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stdout, "usage: standin fill PATH MIB | standin write PATH TEXT")
		return 2
	}
	f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		fmt.Fprintf(stdout, "written 0 bytes: %v\n", err)
		return 1
	}
	mib, err := strconv.Atoi(args[1])
	if err != nil {
		f.Close()
		fmt.Fprintf(stdout, "bad MiB %q\n", args[1])
		return 2
	}
	buf := bytes.Repeat([]byte{0x5a}, 1<<20)
	var n int64
	for i := 0; i < mib && err == nil; i++ {
		var w int
		w, err = f.Write(buf)
		n += int64(w)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stdout, "written %d bytes: %v\n", n, err)
		return 1
	}
	fmt.Fprintf(stdout, "written %d bytes\n", n)
	return 0
}

func write(args []string, stdout io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stdout, "usage: standin write PATH TEXT")
		return 2
	}
	if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}
	return 0
}
