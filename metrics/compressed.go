package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawd-dev/clawd/namespace"
)

// ZramPool reads the zram pool's totals: bytes stored before and after
// compression and the memory the pool takes; ok is false without a device.
type ZramPool func() (original, compressed, used uint64, ok bool)

// compressed is read at scrape time: the Compressed namespaces' resident
// and compressed bytes (from their status, measured when squeezed) and the
// zram pool's totals (read from the kernel).
type compressed struct {
	nss                                 func() []namespace.Namespace
	pool                                ZramPool
	resident, compressedB               *prometheus.Desc
	poolOriginal, poolCompressed, poolU *prometheus.Desc
}

// NewCompressed registers the Compressed tier's gauges on reg.
func NewCompressed(reg prometheus.Registerer, nss func() []namespace.Namespace, pool ZramPool) {
	name := func(s string) string { return prometheus.BuildFQName(Namespace, "compressed", s) }
	reg.MustRegister(&compressed{
		nss: nss, pool: pool,
		resident: prometheus.NewDesc(name("resident_bytes"),
			"What a Compressed namespace's gateway held in RAM when it was squeezed into zram.", []string{"namespace"}, nil),
		compressedB: prometheus.NewDesc(name("zram_bytes"),
			"What a Compressed namespace's swapped memory takes in the zram pool (the pool's ratio applied to its cgroup's swapped bytes).", []string{"namespace"}, nil),
		poolOriginal: prometheus.NewDesc(name("pool_original_bytes"),
			"Bytes stored in clawd's zram device before compression (mm_stat orig_data_size).", nil, nil),
		poolCompressed: prometheus.NewDesc(name("pool_compressed_bytes"),
			"Bytes stored in clawd's zram device after compression (mm_stat compr_data_size).", nil, nil),
		poolU: prometheus.NewDesc(name("pool_used_bytes"),
			"Memory clawd's zram device takes, allocator overhead included (mm_stat mem_used_total).", nil, nil),
	})
}

func (c *compressed) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.resident, c.compressedB, c.poolOriginal, c.poolCompressed, c.poolU} {
		ch <- d
	}
}

func (c *compressed) Collect(ch chan<- prometheus.Metric) {
	for _, ns := range c.nss() {
		if ns.Status.Phase != namespace.PhaseCompressed {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.resident, prometheus.GaugeValue, float64(ns.Status.ResidentBytes), ns.Spec.Name)
		ch <- prometheus.MustNewConstMetric(c.compressedB, prometheus.GaugeValue, float64(ns.Status.CompressedBytes), ns.Spec.Name)
	}
	if c.pool == nil {
		return
	}
	if orig, compr, used, ok := c.pool(); ok {
		ch <- prometheus.MustNewConstMetric(c.poolOriginal, prometheus.GaugeValue, float64(orig))
		ch <- prometheus.MustNewConstMetric(c.poolCompressed, prometheus.GaugeValue, float64(compr))
		ch <- prometheus.MustNewConstMetric(c.poolU, prometheus.GaugeValue, float64(used))
	}
}
