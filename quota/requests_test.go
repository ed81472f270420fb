package quota

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// memRequests is a RequestStore in memory.
type memRequests struct {
	mu     sync.Mutex
	counts map[[3]string]int64 // hour, namespace, node
	puts   int
}

func newMemRequests() *memRequests { return &memRequests{counts: map[[3]string]int64{}} }

func (m *memRequests) PutRequestCount(_ context.Context, c RequestCount) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[[3]string{c.Hour, c.Namespace, c.Node}] = c.Count
	m.puts++
	return nil
}

func (m *memRequests) ListRequestCounts(_ context.Context, hour, ns string) ([]RequestCount, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []RequestCount
	for k, n := range m.counts {
		if k[0] == hour && (ns == "" || k[1] == ns) {
			out = append(out, RequestCount{Hour: k[0], Namespace: k[1], Node: k[2], Count: n})
		}
	}
	return out, nil
}

func (m *memRequests) PruneRequestCounts(_ context.Context, before string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.counts {
		if k[0] < before {
			delete(m.counts, k)
		}
	}
	return nil
}

var hour0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func admitN(t *testing.T, q *Requests, ns string, limit int64, now time.Time, n int) {
	t.Helper()
	for i := range n {
		if ref := q.Admit(ns, limit, now); ref != nil {
			t.Fatalf("%s: request %d of %d refused: %v", ns, i+1, n, ref)
		}
	}
}

func TestRequestsPerHour(t *testing.T) {
	q := NewRequests("n1", newMemRequests(), nil, nil)
	q.Sync(context.Background(), hour0)
	now := hour0.Add(59*time.Minute + 30*time.Second)

	admitN(t, q, "a", 5, now, 5)
	ref := q.Admit("a", 5, now)
	if ref == nil {
		t.Fatal("the 6th request of the hour was admitted")
	}
	if ref.Quota != RequestsPerHour || ref.Limit != 5 || !ref.Reset.Equal(hour0.Add(time.Hour)) || ref.RetryAfter(now) != 30*time.Second {
		t.Errorf("refusal %+v, want api.requestsPerHour=5 resetting at %s", ref, hour0.Add(time.Hour))
	}
	if !strings.Contains(ref.Error(), "hourly usage limit api.requestsPerHour=5") {
		t.Errorf("refusal says %q", ref.Error())
	}
	if n := testutil.ToFloat64(q.rejec.WithLabelValues("a", RequestsPerHour)); n != 1 {
		t.Errorf("clawd_quota_rejections_total = %v, want 1", n)
	}
	// Another namespace, or one without a limit, is not touched.
	admitN(t, q, "b", 0, now, 100)
	// The next hour starts afresh.
	admitN(t, q, "a", 5, hour0.Add(time.Hour), 5)
	if q.Admit("a", 5, hour0.Add(time.Hour)) == nil {
		t.Error("the 6th request of the next hour was admitted")
	}
}

// Two nodes share a namespace's hour: each writes its own count and reads
// the other's on Sync; a restarted node picks up what it had counted.
func TestRequestsSharedByNodes(t *testing.T) {
	ctx := context.Background()
	st := newMemRequests()
	n1 := NewRequests("n1", st, nil, nil)
	n2 := NewRequests("n2", st, nil, nil)
	now := hour0.Add(time.Minute)
	n1.Sync(ctx, now)
	n2.Sync(ctx, now)

	admitN(t, n1, "a", 10, now, 6)
	n1.Sync(ctx, now)
	n2.Sync(ctx, now)
	admitN(t, n2, "a", 10, now, 4)
	if n2.Admit("a", 10, now) == nil {
		t.Error("node 2 admitted an 11th request after reading node 1's 6")
	}
	n2.Sync(ctx, now)
	for _, q := range []*Requests{n1, n2} {
		if used, err := q.Used(ctx, "a", now); err != nil || used != 10 {
			t.Errorf("%s: used %d (%v), want 10", q.node, used, err)
		}
	}

	// Node 1 restarts: its 6 come back from the store, node 2's 4 too.
	again := NewRequests("n1", st, nil, nil)
	again.Sync(ctx, now)
	if again.Admit("a", 10, now) == nil {
		t.Error("a restarted node forgot the hour's count")
	}
	if used, err := again.Used(ctx, "a", now); err != nil || used != 10 {
		t.Errorf("used after a restart %d (%v), want 10", used, err)
	}

	// Two hours on, the old hour's counts are pruned.
	n1.Sync(ctx, now.Add(2*time.Hour))
	if got, _ := st.ListRequestCounts(ctx, HourOf(now), ""); len(got) != 0 {
		t.Errorf("counts of two hours ago left in the store: %v", got)
	}
}

// A namespace without a limit is counted in memory only: the store is
// not written for it.
func TestRequestsUnlimitedNotWritten(t *testing.T) {
	st := newMemRequests()
	q := NewRequests("n1", st, nil, nil)
	q.Sync(context.Background(), hour0)
	admitN(t, q, "free", 0, hour0, 50)
	q.Sync(context.Background(), hour0)
	if st.puts != 0 {
		t.Errorf("%d store writes for a namespace without a limit", st.puts)
	}
	// A limit set within the hour applies to the hour's count so far.
	if q.Admit("free", 50, hour0) == nil {
		t.Error("a limit set within the hour ignored the requests before it")
	}
	q.Sync(context.Background(), hour0)
	if got, _ := st.ListRequestCounts(context.Background(), HourOf(hour0), "free"); len(got) != 1 || got[0].Count != 50 {
		t.Errorf("store holds %v, want node n1's 50", got)
	}
}
