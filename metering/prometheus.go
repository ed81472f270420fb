package metering

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawd-dev/clawd/ledger"
)

// promUsage is the prometheus backend: every recorded event also moves a
// clawd_usage_* series. It is collected only while the backend is on, so
// an operator who picks the ledger alone gets no per-namespace series.
type promUsage struct {
	on       *atomic.Bool
	requests *prometheus.CounterVec
	calls    *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	skills   *prometheus.CounterVec
	cpu      *prometheus.CounterVec
	memory   *prometheus.CounterVec
	storage  *prometheus.GaugeVec
}

func newPromUsage(on *atomic.Bool) *promUsage {
	ns := []string{"namespace"}
	return &promUsage{
		on: on,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawd_usage_api_requests_total",
			Help: "Tenant requests the router forwarded, by namespace (metering.backend=prometheus)."}, ns),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawd_usage_model_calls_total",
			Help: "Model calls through the model gateway, by namespace and model (metering.backend=prometheus)."}, []string{"namespace", "model"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawd_usage_tokens_total",
			Help: "Model tokens, by namespace, model and direction (input, output) (metering.backend=prometheus)."}, []string{"namespace", "model", "direction"}),
		skills: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawd_usage_skills_executed_total",
			Help: "Tool calls the models asked gateways to run, by namespace (metering.backend=prometheus)."}, ns),
		cpu: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawd_usage_cpu_seconds_total",
			Help: "CPU time of namespaces' gateways on this node, from their cgroups (metering.backend=prometheus)."}, ns),
		memory: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawd_usage_memory_gib_hours_total",
			Help: "Memory held by namespaces' gateways on this node, in GiB-hours (metering.backend=prometheus)."}, ns),
		storage: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "clawd_usage_storage_bytes",
			Help: "Bytes a namespace's volumes take, as last sampled on this node (metering.backend=prometheus)."}, ns),
	}
}

func (p *promUsage) vecs() []prometheus.Collector {
	return []prometheus.Collector{p.requests, p.calls, p.tokens, p.skills, p.cpu, p.memory, p.storage}
}

// Describe sends nothing: the collector is unchecked, so it may expose its
// series only while the backend is on.
func (p *promUsage) Describe(chan<- *prometheus.Desc) {}

func (p *promUsage) Collect(ch chan<- prometheus.Metric) {
	if !p.on.Load() {
		return
	}
	for _, c := range p.vecs() {
		c.Collect(ch)
	}
}

func (p *promUsage) add(e ledger.Event) {
	ns := e.Namespace
	if e.APIRequests > 0 {
		p.requests.WithLabelValues(ns).Add(float64(e.APIRequests))
	}
	if e.Calls > 0 {
		p.calls.WithLabelValues(ns, e.Model).Add(float64(e.Calls))
	}
	if e.InputTokens > 0 {
		p.tokens.WithLabelValues(ns, e.Model, "input").Add(float64(e.InputTokens))
	}
	if e.OutputTokens > 0 {
		p.tokens.WithLabelValues(ns, e.Model, "output").Add(float64(e.OutputTokens))
	}
	if e.SkillsExecuted > 0 {
		p.skills.WithLabelValues(ns).Add(float64(e.SkillsExecuted))
	}
	if e.CPUMicros > 0 {
		p.cpu.WithLabelValues(ns).Add(float64(e.CPUMicros) / 1e6)
	}
	if e.MemoryMiBSeconds > 0 {
		p.memory.WithLabelValues(ns).Add(float64(e.MemoryMiBSeconds) / (1024 * 3600))
	}
	if e.StorageBytes > 0 {
		p.storage.WithLabelValues(ns).Set(float64(e.StorageBytes))
	}
}

func (p *promUsage) forget(ns string) {
	for _, c := range p.vecs() {
		switch v := c.(type) {
		case *prometheus.CounterVec:
			v.DeletePartialMatch(prometheus.Labels{"namespace": ns})
		case *prometheus.GaugeVec:
			v.DeletePartialMatch(prometheus.Labels{"namespace": ns})
		}
	}
}
