package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/provider"
	"github.com/clawd-dev/clawd/usage"
)

func TestProviders(t *testing.T) {
	s := newTestStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch := s.WatchProviders(ctx)
	next := func(want int) []provider.Provider {
		t.Helper()
		for {
			select {
			case ps := <-watch:
				if len(ps) == want {
					return ps
				}
			case <-ctx.Done():
				t.Fatalf("no provider list of %d", want)
			}
		}
	}
	next(0)
	p := provider.Provider{Name: "openai", API: "openai-completions", BaseURL: "https://x/v1", Models: []string{"gpt-4o"}, SealedKey: "v1:abc"}
	if err := s.CreateProvider(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProvider(ctx, p); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v, want ErrExists", err)
	}
	if got := next(1); got[0].Name != "openai" || got[0].SealedKey != "v1:abc" {
		t.Errorf("watched %+v", got)
	}
	list, err := s.ListProviders(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := s.DeleteProvider(ctx, "openai"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProvider(ctx, "openai"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete again: %v, want ErrNotFound", err)
	}
	next(0)
}

func TestUsageDays(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for _, d := range []usage.Day{
		{Namespace: "acme", Day: "2026-12-03", Node: "a", Models: map[string]*usage.Model{"openai/gpt-4o": {Model: "openai/gpt-4o", Calls: 2}}},
		{Namespace: "acme", Day: "2026-12-03", Node: "b", Models: map[string]*usage.Model{"openai/gpt-4o": {Model: "openai/gpt-4o", Calls: 3}}},
		{Namespace: "acme-2", Day: "2026-12-03", Node: "a", Models: map[string]*usage.Model{}},
		{Namespace: "acme", Day: "2026-12-02", Node: "a", Models: map[string]*usage.Model{}},
	} {
		if err := s.PutUsageDay(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	days, err := s.ListUsageDay(ctx, "2026-12-03", "acme")
	if err != nil || len(days) != 2 {
		t.Fatalf("days: %+v %v; want acme's two nodes only (not acme-2's)", days, err)
	}
	if sum := usage.Sum(days); len(sum) != 1 || sum[0].Calls != 5 {
		t.Errorf("sum %+v", sum)
	}
	if err := s.PutUsageDay(ctx, usage.Day{Namespace: "a/b", Day: "2026-12-03", Node: "a"}); err == nil {
		t.Error("a namespace with a slash was written")
	}
}
