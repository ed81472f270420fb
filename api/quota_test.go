package api

import (
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
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
