package cgroupfs

import (
	"os"
	"strings"
	"testing"
)

func TestParseMaps(t *testing.T) {
	maps := `00400000-00401000 r-xp 00000000 00:27 819410                             /usr/local/bin/node
03201000-06b51000 rw-p 02e01000 00:27 819410                             /usr/local/bin/node
179e7000-1bc3b000 rw-p 00000000 00:00 0                                  [heap]
7f9f8c000000-7f9f8d1e5000 rw-p 00000000 00:00 0 
7f9f8d1e5000-7f9f90000000 ---p 00000000 00:00 0 
7f9fa0000000-7f9fa0001000 rw-s 00000000 00:05 1234                       /dev/shm/x
7ffd0000-7ffe0000 rw-p 00000000 00:00 0                                  [stack]
garbage line
`
	got, err := parseMaps(strings.NewReader(maps))
	if err != nil {
		t.Fatal(err)
	}
	want := []iovec{{0x179e7000, 0x1bc3b000 - 0x179e7000}, {0x7f9f8c000000, 0x7f9f8d1e5000 - 0x7f9f8c000000}, {0x7ffd0000, 0x10000}}
	if len(got) != len(want) {
		t.Fatalf("got %d ranges %x, want %x", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("range %d = %x, want %x", i, got[i], want[i])
		}
	}
}

// TestPrefetchProcess advises this test's own memory: the kernel takes
// process_madvise(MADV_WILLNEED) for every anonymous mapping.
func TestPrefetchProcess(t *testing.T) {
	n, err := prefetchProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no memory advised")
	}
}
