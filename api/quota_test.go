package api

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/runtime"
)

// api.requestsPerHour is a counted, enforced quota once the router's
// counts can be read: used, remaining, and the end of the UTC hour.
func TestQuotaLinesRequestsPerHour(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 17, 0, 0, time.UTC)
	spec := namespace.Spec{Name: "a", Quota: &quota.Limits{RequestsPerHour: 5}}
	l := quotaLines(spec, nil, 7, now)[quota.RequestsPerHour]
	if !l.Enforced || l.Limit != 5 || l.Used == nil || *l.Used != 7 || *l.Remaining != 0 ||
		l.Resets == nil || !l.Resets.Equal(time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("line %+v", l)
	}
	// Without the router's counts (no Requests wired) the limit is shown alone.
	if l := quotaLines(spec, nil, -1, now)[quota.RequestsPerHour]; l.Enforced || l.Used != nil || l.Limit != 5 {
		t.Errorf("line without counts %+v", l)
	}
}

// skills.maxInstalled (counted by clawd before a start) and
// skills.maxConcurrent (the gateway's own caps) are enforced.
func TestQuotaLinesSkills(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 17, 0, 0, time.UTC)
	spec := namespace.Spec{Name: "a", MaxSkills: 50, Quota: &quota.Limits{MaxConcurrentSkills: 10}}
	lines := quotaLines(spec, nil, -1, now)
	for key, want := range map[string]int64{"skills.maxInstalled": 50, "skills.maxConcurrent": 10} {
		if l := lines[key]; !l.Enforced || l.Limit != want {
			t.Errorf("%s = %+v, want enforced with limit %d", key, l, want)
		}
	}
}

// twoCPUs is a runtime on a 2-CPU host with no gateway running.
type twoCPUs struct{}

func (twoCPUs) Stats(context.Context, string) (runtime.Stats, error) {
	return runtime.Stats{}, errors.New("not running")
}
func (twoCPUs) HostCPUs(context.Context) (int, error) { return 2, nil }

// namespace get shows the CPU quota asked for and the cap applied: one
// above the host's CPUs is clamped to them.
func TestNamespaceGetShowsTheCPUClamp(t *testing.T) {
	srv := New(Config{Token: adminToken}, newMemStore(
		namespace.Spec{Name: "big", CPUMillis: 4000},
		namespace.Spec{Name: "small", CPUMillis: 1500},
		namespace.Spec{Name: "uncapped"},
	), twoCPUs{})
	for name, want := range map[string]*CPUCap{
		"big":      {RequestedMillis: 4000, AppliedMillis: 2000, HostCPUs: 2, Clamped: true},
		"small":    {RequestedMillis: 1500, AppliedMillis: 1500, HostCPUs: 2},
		"uncapped": nil,
	} {
		rec := admin(t, srv, "GET", "/api/v1/namespaces/"+name, "")
		var d NamespaceDetail
		if err := json.Unmarshal(rec.Body.Bytes(), &d); rec.Code != 200 || err != nil {
			t.Fatalf("get %s: %d %v %s", name, rec.Code, err, rec.Body)
		}
		if (d.CPU == nil) != (want == nil) || (want != nil && *d.CPU != *want) {
			t.Errorf("get %s: cpu %+v, want %+v", name, d.CPU, want)
		}
	}
}
