package metrics

import "github.com/prometheus/client_golang/prometheus"

// Login counts sign-ins at the router by namespace, provider kind and
// outcome (auth.Outcome*).
type Login struct {
	total *prometheus.CounterVec
}

// NewLogin registers the sign-in counter on reg.
func NewLogin(reg prometheus.Registerer) *Login {
	m := &Login{total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "login_total",
		Help: "Sign-ins with a namespace's identity provider at the router, by namespace, provider (oidc, oauth2) and outcome (ok, denied, invalid_state, replayed, provider_error, exchange_failed, invalid_token, unavailable).",
	}, []string{"namespace", "provider", "outcome"})}
	reg.MustRegister(m.total)
	return m
}

// ObserveLogin counts one sign-in's outcome.
func (m *Login) ObserveLogin(ns, provider, outcome string) {
	m.total.WithLabelValues(ns, provider, outcome).Inc()
}

// Forget drops a deleted namespace's series.
func (m *Login) Forget(ns string) {
	m.total.DeletePartialMatch(prometheus.Labels{"namespace": ns})
}
