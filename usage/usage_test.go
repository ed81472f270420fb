package usage

import (
	"context"
	"fmt"
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

// Reading a namespace's usage keeps nothing for a namespace without calls,
// and what a day past kept is forgotten at the next flush: the counter's
// memory does not grow with the namespaces and days it was asked about.
func TestCounterForgetsWhatItOnlyRead(t *testing.T) {
	st := &memStore{days: map[string]Day{}}
	ctx := context.Background()
	now := time.Now()
	yesterday := now.AddDate(0, 0, -1)
	// node-a counted a call yesterday before a restart.
	st.PutUsageDay(ctx, Day{Namespace: "acme", Day: DayOf(yesterday), Node: "node-a",
		Models: map[string]*Model{"openai/gpt-4o": {Model: "openai/gpt-4o", Calls: 1, InputTokens: 4}}})
	c := NewCounter("node-a", st, nil)
	for i := range 50 {
		ns := fmt.Sprintf("quiet-%d", i)
		for _, day := range []time.Time{yesterday, now} {
			if got, err := c.Used(ctx, ns, day); err != nil || len(got) != 0 {
				t.Fatalf("Used(%s) = %+v, %v; want nothing", ns, got, err)
			}
		}
	}
	got, err := c.Used(ctx, "acme", yesterday)
	if err != nil || len(got) != 1 || got[0].InputTokens != 4 {
		t.Fatalf("acme yesterday = %+v, %v; want the call counted before the restart", got, err)
	}
	c.mu.Lock()
	if len(c.days) != 1 {
		t.Errorf("%d days kept after reading usage, want 1 (acme's, loaded from the store)", len(c.days))
	}
	c.mu.Unlock()

	c.Flush(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.days {
		t.Errorf("day %v kept after the flush", k)
	}
	for k := range c.loaded {
		if k.day < DayOf(now) {
			t.Errorf("past day %v still marked loaded", k)
		}
	}
	for k := range c.others {
		if k.day < DayOf(now) {
			t.Errorf("other nodes' counts of past day %v kept", k)
		}
	}
}
