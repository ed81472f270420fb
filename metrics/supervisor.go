package metrics

import "github.com/prometheus/client_golang/prometheus"

// Supervisor counts what happens to gateways (supervisor.Metrics).
type Supervisor struct {
	oomKills *prometheus.CounterVec
}

// NewSupervisor registers the supervisor's collectors on reg.
func NewSupervisor(reg prometheus.Registerer) *Supervisor {
	m := &Supervisor{
		oomKills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "gateway", Name: "oom_kills_total",
			Help: "Gateways killed by the kernel's out-of-memory killer (Docker's State.OOMKilled), by namespace.",
		}, []string{"namespace"}),
	}
	reg.MustRegister(m.oomKills)
	return m
}

// OOMKilled counts one OOM kill of namespace ns's gateway.
func (m *Supervisor) OOMKilled(ns string) { m.oomKills.WithLabelValues(ns).Inc() }

// Forget drops a deleted namespace's series.
func (m *Supervisor) Forget(ns string) { m.oomKills.DeleteLabelValues(ns) }
