package metering

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

type sink struct {
	mu  sync.Mutex
	evs []ledger.Event
}

func (s *sink) Add(e ledger.Event) { s.mu.Lock(); s.evs = append(s.evs, e); s.mu.Unlock() }
func (s *sink) take() []ledger.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.evs
	s.evs = nil
	return out
}

func TestRequestsAggregatePerNamespaceAndSecond(t *testing.T) {
	s := &sink{}
	m := New(Config{Node: "n1", Sink: s})
	for range 5 {
		m.Counted("a", 1)
	}
	m.Counted("b", 3)
	m.flushRequests(time.Unix(100, 500))
	got := map[string]int64{}
	ids := map[string]bool{}
	for _, e := range s.take() {
		got[e.Namespace] += e.APIRequests
		if ids[e.ID] {
			t.Errorf("id %s used twice", e.ID)
		}
		ids[e.ID] = true
		if !e.Time.Equal(time.Unix(100, 0)) {
			t.Errorf("event time %v, want the second it was counted in", e.Time)
		}
	}
	if got["a"] != 5 || got["b"] != 3 || len(ids) != 2 {
		t.Fatalf("events %v (%d), want a=5 b=3 in 2 events", got, len(ids))
	}
	m.flushRequests(time.Unix(101, 0))
	if evs := s.take(); len(evs) != 0 {
		t.Fatalf("an idle second wrote %d events", len(evs))
	}
	m2 := New(Config{Node: "n1", Sink: s})
	m2.Counted("a", 1)
	m2.flushRequests(time.Unix(100, 0))
	if e := s.take()[0]; ids[e.ID] {
		t.Fatalf("a restarted meter reused id %s", e.ID)
	}
}

func TestDisabledRecordsNothing(t *testing.T) {
	s := &sink{}
	reg := prometheus.NewPedanticRegistry()
	m := New(Config{Node: "n1", Sink: s, Registerer: reg})
	m.Configure(false, BackendPrometheus)
	m.Counted("a", 1)
	m.Add(ledger.Event{Namespace: "a", InputTokens: 5})
	m.flushRequests(time.Now())
	if evs := s.take(); len(evs) != 0 || m.Backend() != "off" {
		t.Fatalf("disabled meter wrote %v, backend %s", evs, m.Backend())
	}
	m.Configure(true, BackendLedger)
	m.Add(ledger.Event{Namespace: "a", Model: "p/m", InputTokens: 5, Calls: 1})
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Fatalf("ledger backend exposes %d usage series, want none", n)
	}
	m.Configure(true, BackendPrometheus)
	m.Add(ledger.Event{Namespace: "a", Model: "p/m", InputTokens: 7, OutputTokens: 2, Calls: 1})
	m.Counted("a", 4)
	m.flushRequests(time.Now())
	want := `
# HELP clawd_usage_api_requests_total Tenant requests the router forwarded, by namespace (metering.backend=prometheus).
# TYPE clawd_usage_api_requests_total counter
clawd_usage_api_requests_total{namespace="a"} 4
# HELP clawd_usage_tokens_total Model tokens, by namespace, model and direction (input, output) (metering.backend=prometheus).
# TYPE clawd_usage_tokens_total counter
clawd_usage_tokens_total{direction="input",model="p/m",namespace="a"} 7
clawd_usage_tokens_total{direction="output",model="p/m",namespace="a"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "clawd_usage_api_requests_total", "clawd_usage_tokens_total"); err != nil {
		t.Fatal(err)
	}
	m.Forget("a")
	if n, _ := testutil.GatherAndCount(reg, "clawd_usage_tokens_total"); n != 0 {
		t.Fatalf("a forgotten namespace keeps %d series", n)
	}
}

type fakeNS struct{ list []namespace.Namespace }

func (f *fakeNS) Snapshot() []namespace.Namespace { return f.list }

type fakeCG map[string]runtime.Stats

func (f fakeCG) Stats(_ context.Context, ns string) (runtime.Stats, error) { return f[ns], nil }

func running(name, container string) namespace.Namespace {
	return namespace.Namespace{Spec: namespace.Spec{Name: name},
		Status: namespace.Status{Phase: namespace.PhaseRunning, ContainerID: container, Node: "n1"}}
}

func TestSamplerComputeDeltas(t *testing.T) {
	s := &sink{}
	m := New(Config{Node: "n1", Sink: s})
	nss := &fakeNS{list: []namespace.Namespace{running("a", "c1")}}
	cg := fakeCG{"a": {CPUUsage: 10 * time.Second, MemoryWorkingSet: 512 << 20}}
	sm := NewSampler(SamplerConfig{Node: "n1", Compute: 15 * time.Second}, m, nss, cg, nil)
	t0 := time.Unix(1000, 0)
	sm.Compute(context.Background(), t0)
	if evs := s.take(); len(evs) != 0 {
		t.Fatalf("first reading after start is the baseline, got %v", evs)
	}
	cg["a"] = runtime.Stats{CPUUsage: 12500 * time.Millisecond, MemoryWorkingSet: 512 << 20}
	sm.Compute(context.Background(), t0.Add(15*time.Second))
	evs := s.take()
	if len(evs) != 1 || evs[0].CPUMicros != 2_500_000 || evs[0].MemoryMiBSeconds != 512*15 {
		t.Fatalf("second reading: %+v, want 2.5 s CPU and 512 MiB × 15 s", evs)
	}
	// Paused for an hour: no compute, and no memory billed for the pause.
	nss.list[0].Status.Phase = namespace.PhasePaused
	sm.Compute(context.Background(), t0.Add(time.Hour))
	nss.list[0].Status.Phase = namespace.PhaseRunning
	cg["a"] = runtime.Stats{CPUUsage: 13 * time.Second, MemoryWorkingSet: 1 << 30}
	sm.Compute(context.Background(), t0.Add(time.Hour+10*time.Second))
	evs = s.take()
	if len(evs) != 1 || evs[0].CPUMicros != 500_000 || evs[0].MemoryMiBSeconds != 1024*10 {
		t.Fatalf("after a pause: %+v, want 0.5 s CPU and 1 GiB × 10 s", evs)
	}
	// A new container (a restart): its whole CPU time is new.
	nss.list[0].Status.ContainerID = "c2"
	cg["a"] = runtime.Stats{CPUUsage: 3 * time.Second, MemoryWorkingSet: 1 << 30}
	sm.Compute(context.Background(), t0.Add(time.Hour+20*time.Second))
	evs = s.take()
	if len(evs) != 1 || evs[0].CPUMicros != 3_000_000 || evs[0].MemoryMiBSeconds != 0 {
		t.Fatalf("new container: %+v, want its 3 s of CPU and no memory yet", evs)
	}
	// A namespace created after start counts from its first reading.
	nss.list = append(nss.list, running("b", "c3"))
	cg["b"] = runtime.Stats{CPUUsage: time.Second}
	sm.Compute(context.Background(), t0.Add(time.Hour+30*time.Second))
	for _, e := range s.take() {
		if e.Namespace == "b" && e.CPUMicros != 1_000_000 {
			t.Fatalf("new namespace: %+v, want its 1 s", e)
		}
	}
}

func TestCostRoundsEachLineAndAddsUp(t *testing.T) {
	p, err := PricesFromConfig(map[string]string{KeyAPIRequests: "1.00", KeyTokens: "10", KeyStorage: "10"})
	if err != nil {
		t.Fatal(err)
	}
	u := ledger.Usage{Namespace: "tenant-a", APIRequests: 123456, InputTokens: 8_000_000, OutputTokens: 901_234,
		StorageBytes: 2469606195, StorageGiBHours: 2.3 * 730}
	r := NewReport("2026-05", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), u, p)
	b, _ := json.Marshal(r)
	for _, want := range []string{`"api_requests":123456`, `"tokens_used":8901234`, `"storage_used":"2.3Gi"`,
		`"api_calls":123.46`, `"tokens":89.01`, `"storage":23.00`, `"total":235.47`, `"currency":"USD"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report %s lacks %s", b, want)
		}
	}
	if strings.Contains(string(b), `"compute"`) {
		t.Errorf("compute priced without a CPU or memory price: %s", b)
	}
	none := NewReport("2026-05", r.Start, r.End, u, Prices{Currency: "USD"})
	if none.Cost != nil {
		t.Fatalf("a namespace without prices got a cost: %+v", none.Cost)
	}
	if _, err := PricesFromConfig(map[string]string{KeyTokens: "ten"}); err == nil {
		t.Fatal("a bad stored price was accepted")
	}
	for in, want := range map[string]Money{"0.005": 0, "0.015": 2, "0.0151": 2, "0.025": 2, "1.999": 200} {
		r, _ := new(big.Rat).SetString(in)
		if got := cents(r); got != want {
			t.Errorf("cents(%s) = %d, want %d", in, got, want)
		}
	}
}

type fakeDisks map[string]int64

func (f fakeDisks) DiskUsage(_ context.Context, ns, _, _ string) (int64, error) { return f[ns], nil }

// A namespace is measured at the first compute round that sees it, then
// only every storage interval.
func TestSamplerMeasuresNewNamespacesAtOnce(t *testing.T) {
	s := &sink{}
	m := New(Config{Node: "n1", Sink: s})
	nss := &fakeNS{}
	sm := NewSampler(SamplerConfig{Node: "n1"}, m, nss, fakeCG{}, fakeDisks{"a": 4096})
	ctx := context.Background()
	sm.Storage(ctx, time.Unix(0, 0)) // at start: nothing yet
	nss.list = []namespace.Namespace{running("a", "c1")}
	sm.Compute(ctx, time.Unix(15, 0))
	sm.Compute(ctx, time.Unix(30, 0))
	var samples int
	for _, e := range s.take() {
		if e.StorageBytes == 4096 {
			samples++
		}
	}
	if samples != 1 {
		t.Fatalf("%d storage samples over two compute rounds, want 1 (the first)", samples)
	}
}

type observed struct {
	ns, container string
	st            runtime.Stats
}

type fakeObserver struct{ got []observed }

func (f *fakeObserver) Observe(ns, container string, _ time.Time, st runtime.Stats) {
	f.got = append(f.got, observed{ns, container, st})
}

// The observer sees each running gateway's reading, with metering on or off;
// a paused gateway is not read.
func TestSamplerObserverSeesReadings(t *testing.T) {
	s := &sink{}
	m := New(Config{Node: "n1", Sink: s})
	paused := running("b", "c2")
	paused.Status.Phase = namespace.PhasePaused
	nss := &fakeNS{list: []namespace.Namespace{running("a", "c1"), paused}}
	cg := fakeCG{"a": {CPUUsage: time.Second, MemoryWorkingSet: 64 << 20}, "b": {CPUUsage: time.Second}}
	obs := &fakeObserver{}
	sm := NewSampler(SamplerConfig{Node: "n1", Observer: obs}, m, nss, cg, nil)
	t0 := time.Unix(1000, 0)
	sm.Compute(context.Background(), t0)
	m.Configure(false, "")
	cg["a"] = runtime.Stats{CPUUsage: 2 * time.Second, MemoryWorkingSet: 65 << 20}
	sm.Compute(context.Background(), t0.Add(15*time.Second))
	if len(obs.got) != 2 || obs.got[0].ns != "a" || obs.got[1].ns != "a" || obs.got[1].container != "c1" || obs.got[1].st.MemoryWorkingSet != 65<<20 {
		t.Fatalf("observed %+v, want a's two readings", obs.got)
	}
	if evs := s.take(); len(evs) != 0 {
		t.Fatalf("metering off still recorded %+v", evs)
	}
}
