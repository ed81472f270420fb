// Package metrics holds clawd's Prometheus collectors. The only label that
// names a tenant is "namespace"; paths, hosts and key ids are never labels,
// so the series count grows with namespaces and nothing else.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace is the prefix of every series clawd exports.
const Namespace = "clawd"

// NewRegistry returns a registry with the Go runtime and process
// collectors, to which the subsystems add their own.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus exposition formats.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// Router counts the router's traffic per namespace.
type Router struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	bytesIn      *prometheus.CounterVec
	bytesOut     *prometheus.CounterVec
	active       *prometheus.GaugeVec
	wakes        *prometheus.CounterVec
	wakeDuration *prometheus.HistogramVec

	// byNS caches each namespace's children: WithLabelValues hashes its
	// labels on every call, a map load per request is cheaper.
	byNS sync.Map // string → *nsSeries
}

// nsSeries is one namespace's children of the vectors above.
type nsSeries struct {
	duration prometheus.Observer
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
	active   prometheus.Gauge
	// requests by code class and method, filled on first use.
	requests [numClasses][numMethods]prometheus.Counter
	mu       sync.Mutex
}

// NewRouter registers the router's collectors on reg.
func NewRouter(reg prometheus.Registerer) *Router {
	m := &Router{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "router", Name: "requests_total",
			Help: "Requests through the router, by namespace, status code class (1xx-5xx) and method.",
		}, []string{"namespace", "code", "method"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "router", Name: "request_duration_seconds",
			Help:    "Time from a request's arrival to its last byte, wake waits and whole WebSocket sessions included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"namespace"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "router", Name: "request_bytes_total",
			Help: "Request body bytes read from clients.",
		}, []string{"namespace"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "router", Name: "response_bytes_total",
			Help: "Response body bytes written to clients (WebSocket frames after the upgrade are not counted).",
		}, []string{"namespace"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "router", Name: "active_connections",
			Help: "Requests in progress, open WebSockets and streams included; a client connection counts while it carries one.",
		}, []string{"namespace"}),
		wakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "router", Name: "wakes_total",
			Help: "Wakes the router waited on (one per wake, however many requests were held), by result: ok, timeout, error, abandoned.",
		}, []string{"namespace", "result"}),
		wakeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "router", Name: "wake_duration_seconds",
			Help:    "Time from the first held request of a wake until the namespace answered.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 20, 30, 60, 120},
		}, []string{"namespace"}),
	}
	reg.MustRegister(m.requests, m.duration, m.bytesIn, m.bytesOut, m.active, m.wakes, m.wakeDuration)
	return m
}

func (m *Router) series(ns string) *nsSeries {
	if v, ok := m.byNS.Load(ns); ok {
		return v.(*nsSeries)
	}
	s := &nsSeries{
		duration: m.duration.WithLabelValues(ns),
		bytesIn:  m.bytesIn.WithLabelValues(ns),
		bytesOut: m.bytesOut.WithLabelValues(ns),
		active:   m.active.WithLabelValues(ns),
	}
	v, _ := m.byNS.LoadOrStore(ns, s)
	return v.(*nsSeries)
}

// Request records one finished request.
func (m *Router) Request(ns, method string, status int, bytesIn, bytesOut int64, d time.Duration) {
	s := m.series(ns)
	c, mi := classOf(status), methodIndex(method)
	ctr := s.requests[c][mi]
	if ctr == nil {
		s.mu.Lock()
		if ctr = s.requests[c][mi]; ctr == nil {
			ctr = m.requests.WithLabelValues(ns, classes[c], methods[mi])
			s.requests[c][mi] = ctr
		}
		s.mu.Unlock()
	}
	ctr.Inc()
	s.duration.Observe(d.Seconds())
	if bytesIn > 0 {
		s.bytesIn.Add(float64(bytesIn))
	}
	if bytesOut > 0 {
		s.bytesOut.Add(float64(bytesOut))
	}
}

// Begin counts a request, WebSocket or stream of ns as active.
func (m *Router) Begin(ns string) { m.series(ns).active.Inc() }

// End undoes Begin.
func (m *Router) End(ns string) { m.series(ns).active.Dec() }

// Wake records one wake the router waited on; d counts only for "ok".
func (m *Router) Wake(ns string, d time.Duration, result string) {
	m.wakes.WithLabelValues(ns, result).Inc()
	if result == WakeOK {
		m.wakeDuration.WithLabelValues(ns).Observe(d.Seconds())
	}
}

// Forget drops a deleted namespace's series.
func (m *Router) Forget(ns string) {
	m.byNS.Delete(ns)
	l := prometheus.Labels{"namespace": ns}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.requests, m.duration, m.bytesIn, m.bytesOut, m.active, m.wakes, m.wakeDuration,
	} {
		v.DeletePartialMatch(l)
	}
}

// Wake results.
const (
	WakeOK        = "ok"
	WakeTimeout   = "timeout"
	WakeError     = "error"
	WakeAbandoned = "abandoned"
)

const numClasses = 6

// classes are the code label's values; index 0 is anything outside 100-599.
var classes = [numClasses]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func classOf(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

const numMethods = 10

// methods are the method label's values: the standard ones, then "other",
// so a client inventing methods cannot add series.
var methods = [numMethods]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other"}

func methodIndex(m string) int {
	for i := 0; i < numMethods-1; i++ {
		if methods[i] == m {
			return i
		}
	}
	return numMethods - 1
}
