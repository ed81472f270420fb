package usage

import (
	"context"
	"sync"
	"testing"
	"time"
)

type memStore struct {
	mu   sync.Mutex
	days map[string]Day
}

func (m *memStore) PutUsageDay(_ context.Context, d Day) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.days[d.Day+"/"+d.Namespace+"/"+d.Node] = clone(&d)
	return nil
}

func (m *memStore) ListUsageDay(_ context.Context, day, ns string) ([]Day, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Day
	for _, d := range m.days {
		if d.Day == day && d.Namespace == ns {
			out = append(out, clone(&d))
		}
	}
	return out, nil
}

func TestCounterSurvivesRestartAndSumsNodes(t *testing.T) {
	st := &memStore{days: map[string]Day{}}
	now := time.Now()
	a := NewCounter("node-a", st, nil)
	a.Add(Call{Time: now, Namespace: "acme", Provider: "openai", Model: "gpt-4o", Status: 200, InputTokens: 10, OutputTokens: 5})
	a.Add(Call{Time: now, Namespace: "acme", Provider: "openai", Model: "gpt-4o", Status: 429})
	a.Add(Call{Time: now, Namespace: "other", Provider: "openai", Model: "gpt-4o", Status: 200, InputTokens: 99})
	a.Flush(context.Background())

	// node-a restarts: its earlier count is read back, not overwritten.
	a = NewCounter("node-a", st, nil)
	a.Add(Call{Time: now, Namespace: "acme", Provider: "openai", Model: "gpt-4o", Status: 200, InputTokens: 1, OutputTokens: 2, Estimated: true})
	b := NewCounter("node-b", st, nil)
	b.Add(Call{Time: now, Namespace: "acme", Provider: "anthropic", Model: "claude", Status: 200, InputTokens: 7, OutputTokens: 3})
	b.Flush(context.Background())

	got, err := a.Today(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []Model{
		{Model: "anthropic/claude", Calls: 1, InputTokens: 7, OutputTokens: 3},
		{Model: "openai/gpt-4o", Calls: 3, Errors: 1, InputTokens: 11, OutputTokens: 7, EstimatedCalls: 1},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("today = %+v\nwant %+v", got, want)
	}
}
