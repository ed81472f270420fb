package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRouterRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewRouter(reg)
	m.Request("alpha", "GET", 200, 0, 100, 3*time.Millisecond)
	m.Request("alpha", "GET", 204, 10, 0, time.Millisecond)
	m.Request("alpha", "BREW", 418, 0, 5, time.Millisecond)
	m.Request("beta", "POST", 502, 7, 9, 2*time.Second)
	m.Request("", "GET", 404, 0, 50, time.Millisecond)
	m.Request("beta", "GET", 0, 0, 0, time.Millisecond)

	cases := []struct {
		ns, code, method string
		want             float64
	}{
		{"alpha", "2xx", "GET", 2},
		{"alpha", "4xx", "other", 1},
		{"beta", "5xx", "POST", 1},
		{"", "4xx", "GET", 1},
		{"beta", "other", "GET", 1},
	}
	for _, tc := range cases {
		t.Run(tc.ns+"/"+tc.code+"/"+tc.method, func(t *testing.T) {
			if got := testutil.ToFloat64(m.requests.WithLabelValues(tc.ns, tc.code, tc.method)); got != tc.want {
				t.Fatalf("requests_total = %v, want %v", got, tc.want)
			}
		})
	}
	if n := testutil.CollectAndCount(m.requests); n != 5 {
		t.Fatalf("%d request series, want 5 (methods outside the standard set share one)", n)
	}
	if got := testutil.ToFloat64(m.bytesOut.WithLabelValues("alpha")); got != 105 {
		t.Fatalf("alpha response bytes %v, want 105", got)
	}
	if got := testutil.ToFloat64(m.bytesIn.WithLabelValues("beta")); got != 7 {
		t.Fatalf("beta request bytes %v, want 7", got)
	}
	if n := testutil.CollectAndCount(m.duration); n != 3 {
		t.Fatalf("%d duration series, want one per namespace (3)", n)
	}
	// The histogram puts beta's 2s request above the 1s bucket.
	want := `
# HELP clawd_router_request_duration_seconds Time from a request's arrival to its last byte, wake waits and whole WebSocket sessions included.
# TYPE clawd_router_request_duration_seconds histogram
clawd_router_request_duration_seconds_bucket{namespace="beta",le="0.001"} 1
clawd_router_request_duration_seconds_bucket{namespace="beta",le="0.0025"} 1
clawd_router_request_duration_seconds_bucket{namespace="beta",le="0.005"} 1
clawd_router_request_duration_seconds_bucket{namespace="beta",le="0.01"} 1
clawd_router_request_duration_seconds_bucket{namespace="beta",le="0.025"} 1
clawd_router_request_duration_seconds_bucket{namespace="beta",le="0.05"} 1
clawd_router_request_duration_seconds_bucket{namespace="beta",le="0.1"} 1
clawd_router_request_duration_seconds_bucket{namespace="beta",le="0.25"} 1
clawd_router_request_duration_seconds_bucket{namespace="beta",le="0.5"} 1
clawd_router_request_duration_seconds_bucket{namespace="beta",le="1"} 1
clawd_router_request_duration_seconds_bucket{namespace="beta",le="2.5"} 2
clawd_router_request_duration_seconds_bucket{namespace="beta",le="5"} 2
clawd_router_request_duration_seconds_bucket{namespace="beta",le="10"} 2
clawd_router_request_duration_seconds_bucket{namespace="beta",le="30"} 2
clawd_router_request_duration_seconds_bucket{namespace="beta",le="60"} 2
clawd_router_request_duration_seconds_bucket{namespace="beta",le="+Inf"} 2
clawd_router_request_duration_seconds_sum{namespace="beta"} 2.001
clawd_router_request_duration_seconds_count{namespace="beta"} 2
`
	if err := testutil.CollectAndCompare(filtered{m.duration, "beta"}, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// filtered collects one namespace's series of a vector.
type filtered struct {
	v  *prometheus.HistogramVec
	ns string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { f.v.Describe(ch) }
func (f filtered) Collect(ch chan<- prometheus.Metric) {
	f.v.WithLabelValues(f.ns).(prometheus.Histogram).Collect(ch)
}

func TestRouterActiveAndWakes(t *testing.T) {
	m := NewRouter(prometheus.NewRegistry())
	m.Begin("alpha")
	m.Begin("alpha")
	m.Begin("beta")
	m.End("alpha")
	if got := testutil.ToFloat64(m.active.WithLabelValues("alpha")); got != 1 {
		t.Fatalf("alpha active %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.active.WithLabelValues("beta")); got != 1 {
		t.Fatalf("beta active %v, want 1", got)
	}

	m.Wake("alpha", 1500*time.Millisecond, WakeOK)
	m.Wake("alpha", 60*time.Second, WakeTimeout)
	m.Wake("beta", time.Second, WakeAbandoned)
	if got := testutil.ToFloat64(m.wakes.WithLabelValues("alpha", WakeOK)); got != 1 {
		t.Fatalf("alpha ok wakes %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m.wakes); n != 3 {
		t.Fatalf("%d wake series, want 3", n)
	}
	// Only successful wakes have a duration: a timeout measures the
	// timeout, not the wake.
	if n := testutil.CollectAndCount(m.wakeDuration); n != 1 {
		t.Fatalf("%d wake duration series, want 1", n)
	}

	m.Forget("alpha")
	if n := testutil.CollectAndCount(m.wakes); n != 1 {
		t.Fatalf("%d wake series after forgetting alpha, want 1", n)
	}
	m.Begin("alpha") // a late request recreates its series
	if got := testutil.ToFloat64(m.active.WithLabelValues("alpha")); got != 1 {
		t.Fatalf("alpha active after Forget %v, want 1", got)
	}
}

func TestRegistryServes(t *testing.T) {
	reg := NewRegistry()
	m := NewRouter(reg)
	m.Request("alpha", "GET", 200, 0, 1, time.Millisecond)
	n, err := testutil.GatherAndCount(reg, "clawd_router_requests_total", "go_goroutines")
	if err != nil || n != 2 {
		t.Fatalf("gathered %d series (%v), want the router's and the Go collector's", n, err)
	}
}

func TestLoginCounter(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewLogin(reg)
	m.ObserveLogin("a", "oidc", "ok")
	m.ObserveLogin("a", "oidc", "ok")
	m.ObserveLogin("a", "oidc", "denied")
	m.ObserveLogin("b", "oauth2", "ok")
	if got := testutil.ToFloat64(m.total.WithLabelValues("a", "oidc", "ok")); got != 2 {
		t.Errorf("a ok = %v, want 2", got)
	}
	m.Forget("a")
	if n := testutil.CollectAndCount(m.total, "clawd_login_total"); n != 1 {
		t.Errorf("%d series after forgetting a, want b's 1", n)
	}
}

func TestSupervisorOOMKills(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewSupervisor(reg)
	m.OOMKilled("alpha")
	m.OOMKilled("alpha")
	m.OOMKilled("beta")
	want := `
# HELP clawd_gateway_oom_kills_total Gateways killed by the kernel's out-of-memory killer (Docker's State.OOMKilled), by namespace.
# TYPE clawd_gateway_oom_kills_total counter
clawd_gateway_oom_kills_total{namespace="alpha"} 2
clawd_gateway_oom_kills_total{namespace="beta"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "clawd_gateway_oom_kills_total"); err != nil {
		t.Fatal(err)
	}
	m.Forget("alpha")
	if n := testutil.CollectAndCount(m.oomKills); n != 1 {
		t.Fatalf("%d series after forgetting alpha, want 1", n)
	}
}
