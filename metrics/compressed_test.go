package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clawd-dev/clawd/namespace"
)

func TestCompressedGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	nss := []namespace.Namespace{
		{Spec: namespace.Spec{Name: "alpha"}, Status: namespace.Status{Phase: namespace.PhaseCompressed, ResidentBytes: 30, CompressedBytes: 250}},
		{Spec: namespace.Spec{Name: "beta"}, Status: namespace.Status{Phase: namespace.PhaseRunning}},
	}
	pool := func() (uint64, uint64, uint64, bool) { return 700, 250, 260, true }
	NewCompressed(reg, func() []namespace.Namespace { return nss }, pool)
	want := `
# HELP clawd_compressed_pool_original_bytes Bytes stored in clawd's zram device before compression (mm_stat orig_data_size).
# TYPE clawd_compressed_pool_original_bytes gauge
clawd_compressed_pool_original_bytes 700
# HELP clawd_compressed_resident_bytes What a Compressed namespace's gateway held in RAM when it was squeezed into zram.
# TYPE clawd_compressed_resident_bytes gauge
clawd_compressed_resident_bytes{namespace="alpha"} 30
# HELP clawd_compressed_zram_bytes What a Compressed namespace's swapped memory takes in the zram pool (the pool's ratio applied to its cgroup's swapped bytes).
# TYPE clawd_compressed_zram_bytes gauge
clawd_compressed_zram_bytes{namespace="alpha"} 250
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "clawd_compressed_pool_original_bytes", "clawd_compressed_resident_bytes", "clawd_compressed_zram_bytes"); err != nil {
		t.Fatal(err)
	}

	// Without a device: no pool series at all.
	reg = prometheus.NewRegistry()
	NewCompressed(reg, func() []namespace.Namespace { return nil }, func() (uint64, uint64, uint64, bool) { return 0, 0, 0, false })
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Fatalf("%d series without a device (%v)", n, err)
	}
}
