package modelgw

import (
	"errors"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus series. The model label only ever
// holds a model a provider offers (a refused request's model is "") so
// tenants cannot grow the series count by naming models.
type metrics struct {
	calls  *prometheus.CounterVec
	tokens *prometheus.CounterVec

	// byKey caches a namespace's and model's children: WithLabelValues
	// hashes its labels on every call, a map load is cheaper.
	byKey sync.Map // seriesKey → *series
}

type seriesKey struct{ namespace, model string }

type series struct {
	in, out prometheus.Counter
	mu      sync.Mutex
	calls   map[int]prometheus.Counter // by status code
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clawd", Name: "model_calls_total",
			Help: "Calls through the model gateway by namespace, model and the status returned to the client.",
		}, []string{"namespace", "model", "code"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clawd", Name: "model_tokens_total",
			Help: "Tokens through the model gateway by namespace, model and direction (input or output), as the provider reported them or estimated.",
		}, []string{"namespace", "model", "direction"}),
	}
	m.calls = register(reg, m.calls)
	m.tokens = register(reg, m.tokens)
	return m
}

// register adds c to reg, or returns the collector a second Gateway on the
// same registry already added.
func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// observe counts one call.
func (m *metrics) observe(namespace, model string, status int, in, out int64) {
	k := seriesKey{namespace, model}
	v, ok := m.byKey.Load(k)
	if !ok {
		v, _ = m.byKey.LoadOrStore(k, &series{
			in:    m.tokens.WithLabelValues(namespace, model, "input"),
			out:   m.tokens.WithLabelValues(namespace, model, "output"),
			calls: make(map[int]prometheus.Counter),
		})
	}
	s := v.(*series)
	s.mu.Lock()
	c, ok := s.calls[status]
	if !ok {
		c = m.calls.WithLabelValues(namespace, model, strconv.Itoa(status))
		s.calls[status] = c
	}
	s.mu.Unlock()
	c.Inc()
	if in > 0 {
		s.in.Add(float64(in))
	}
	if out > 0 {
		s.out.Add(float64(out))
	}
}

// forget drops namespace's series. A call in flight may recreate them.
func (m *metrics) forget(namespace string) {
	m.byKey.Range(func(k, _ any) bool {
		if k.(seriesKey).namespace == namespace {
			m.byKey.Delete(k)
		}
		return true
	})
	m.calls.DeletePartialMatch(prometheus.Labels{"namespace": namespace})
	m.tokens.DeletePartialMatch(prometheus.Labels{"namespace": namespace})
}
