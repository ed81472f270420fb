package main

import (
	"log"
	"time"
)

const (
	mib       = 1 << 20
	pageSize  = 4096
	growTicks = 10 // per second, so memory climbs smoothly rather than in steps
)

// hoard keeps every allocation reachable so the GC can never hand it back.
var hoard [][]byte

// growMemory allocates mibPerSecond MiB every second until the cgroup's
// memory limit gets the process OOM-killed.
func growMemory(mibPerSecond int, logger *log.Logger) {
	chunk := mibPerSecond * mib / growTicks
	ticker := time.NewTicker(time.Second / growTicks)
	defer ticker.Stop()
	held := 0
	for tick := 1; ; tick++ {
		<-ticker.C
		b := make([]byte, chunk)
		// Fresh pages from the kernel are only virtual until written; one
		// write per page makes them count against the memory limit.
		for i := 0; i < len(b); i += pageSize {
			b[i] = 1
		}
		hoard = append(hoard, b)
		held += chunk
		if tick%growTicks == 0 {
			logger.Printf("STANDIN_MEMORY_GROWTH: holding %d MiB", held/mib)
		}
	}
}

// holdMemory allocates mib MiB once and keeps it, each page a third
// random bytes and the rest zeros: compressible about as well as a Node
// heap (MEASURED.md: 2.7-3.5x), so the Compressed tier can be measured.
func holdMemory(mib int) {
	seed := uint64(time.Now().UnixNano()) | 1
	for range mib {
		b := make([]byte, 1<<20)
		for p := 0; p < len(b); p += pageSize {
			for i := p; i < p+pageSize/3; i += 8 {
				seed ^= seed << 13
				seed ^= seed >> 7
				seed ^= seed << 17
				for k := 0; k < 8 && i+k < len(b); k++ {
					b[i+k] = byte(seed >> (8 * k))
				}
			}
		}
		hoard = append(hoard, b)
	}
}

// burnCPU starts n goroutines that spin forever. Go sizes GOMAXPROCS from the
// cgroup CPU limit, so n beyond that limit adds no extra load.
func burnCPU(n int) {
	for range n {
		go func() {
			for {
			}
		}()
	}
}
