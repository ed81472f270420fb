package store

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/quota"
)

// Each node's count of a namespace's hour is a key of its own; an hour is
// listed whole or for one namespace; hours before a given one are pruned.
func TestRequestCounts(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for _, c := range []quota.RequestCount{
		{Hour: "2026-12-04T09", Namespace: "acme", Node: "n1", Count: 3},
		{Hour: "2026-12-04T10", Namespace: "acme", Node: "n1", Count: 5},
		{Hour: "2026-12-04T10", Namespace: "acme", Node: "n2", Count: 7},
		{Hour: "2026-12-04T10", Namespace: "acme-2", Node: "n1", Count: 1},
	} {
		if err := s.PutRequestCount(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	list := func(hour, ns string) []string {
		t.Helper()
		got, err := s.ListRequestCounts(ctx, hour, ns)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range got {
			out = append(out, c.Hour+" "+c.Namespace+" "+c.Node+" "+strings.Repeat("|", int(c.Count)))
		}
		slices.Sort(out)
		return out
	}
	if got := list("2026-12-04T10", "acme"); !slices.Equal(got, []string{"2026-12-04T10 acme n1 |||||", "2026-12-04T10 acme n2 |||||||"}) {
		t.Errorf("acme's hour: %q", got)
	}
	if got := list("2026-12-04T10", ""); len(got) != 3 {
		t.Errorf("the whole hour: %q", got)
	}
	if err := s.PruneRequestCounts(ctx, "2026-12-04T10"); err != nil {
		t.Fatal(err)
	}
	if got := list("2026-12-04T09", ""); len(got) != 0 {
		t.Errorf("a pruned hour still lists %q", got)
	}
	if got := list("2026-12-04T10", ""); len(got) != 3 {
		t.Errorf("pruning took the hour it was given: %q", got)
	}
	if err := s.PutRequestCount(ctx, quota.RequestCount{Hour: "2026-12-04T10", Namespace: "a/b", Node: "n1"}); err == nil {
		t.Error("a namespace with a slash was written")
	}
}
