package quota

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/clawd-dev/clawd/usage"
)

type fixedLimits map[string]Limits

func (f fixedLimits) Limits(ns string) Limits { return f[ns] }

type fakeUsage struct {
	mu     sync.Mutex
	models []usage.Model
}

func (f *fakeUsage) Used(context.Context, string, time.Time) ([]usage.Model, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]usage.Model(nil), f.models...), nil
}

// Fifty calls at once against a quota with room for ten estimates: ten
// pass, and each refusal names the quota and its reset.
func TestConcurrentCallsDoNotOvershoot(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := NewEnforcer(fixedLimits{"a": {TokensPerDay: 10_000}}, &fakeUsage{}, reg, nil)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	releases := make(chan func(), 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := e.Admit(context.Background(), "a", "openai", "gpt-4o", 1000)
			if err == nil {
				admitted.Add(1)
				releases <- release
				return
			}
			r, ok := err.(*Refusal)
			if !ok || r.Quota != TokensPerDay || r.Limit != 10_000 || r.RetryAfter(time.Now()) <= 0 || r.RetryAfter(time.Now()) > 24*time.Hour {
				t.Errorf("refusal %#v", err)
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n != 10 {
		t.Errorf("%d calls admitted, want 10 (10,000 tokens / 1,000 reserved each)", n)
	}
	if n := testutil.ToFloat64(e.rejec.WithLabelValues("a", TokensPerDay)); n != 40 {
		t.Errorf("clawd_quota_rejections_total = %v, want 40", n)
	}
	// Released reservations make room again.
	close(releases)
	for r := range releases {
		r()
		r() // twice is harmless
	}
	if _, err := e.Admit(context.Background(), "a", "openai", "gpt-4o", 1000); err != nil {
		t.Errorf("after releases: %v", err)
	}
}

func TestUsedCountsAgainstTheQuotas(t *testing.T) {
	u := &fakeUsage{}
	e := NewEnforcer(fixedLimits{
		"a": {TokensPerDay: 100, CallsPerDay: map[string]int64{"gpt-4o": 2, "anthropic/claude": 1}},
		"b": {},
	}, u, nil, nil)
	admit := func(ns, provider, model string) error {
		release, err := e.Admit(context.Background(), ns, provider, model, 1)
		if err == nil {
			release()
		}
		return err
	}
	u.models = []usage.Model{{Model: "openai/gpt-4o", Calls: 3, Errors: 1, InputTokens: 40, OutputTokens: 10}}
	if err := admit("a", "openai", "gpt-4o"); err == nil || err.(*Refusal).Quota != "models.maxCallsPerDay.gpt-4o" {
		t.Errorf("2 good calls of 2: %v, want models.maxCallsPerDay.gpt-4o", err)
	}
	if err := admit("a", "openai", "gpt-4o-mini"); err != nil {
		t.Errorf("a model without a call quota: %v", err)
	}
	if err := admit("a", "anthropic", "claude"); err != nil {
		t.Errorf("first call of a provider/model quota: %v", err)
	}
	u.models = append(u.models, usage.Model{Model: "anthropic/claude", Calls: 1, InputTokens: 49})
	if err := admit("a", "anthropic", "claude"); err == nil || err.(*Refusal).Quota != "models.maxCallsPerDay.anthropic/claude" {
		t.Errorf("over a provider/model quota: %v", err)
	}
	u.models = append(u.models, usage.Model{Model: "openai/gpt-4o-mini", Calls: 1, OutputTokens: 1})
	if err := admit("a", "openai", "gpt-4o-mini"); err == nil || err.(*Refusal).Quota != TokensPerDay {
		t.Errorf("100 tokens of 100: %v, want api.tokensPerDay", err)
	}
	if err := admit("b", "openai", "gpt-4o"); err != nil {
		t.Errorf("a namespace without quotas: %v", err)
	}
}

// countRefusals counts what an Enforcer reports to its RefusalObserver.
type countRefusals struct {
	n     atomic.Int64
	quota atomic.Value
}

func (c *countRefusals) Refused(ns, provider, model string, r *Refusal) {
	if ns == "a" && model == "gpt-4o" {
		c.n.Add(1)
		c.quota.Store(r.Quota)
	}
}

// Every refusal reaches the observer (the audit log), admissions do not.
func TestRefusalsObserved(t *testing.T) {
	e := NewEnforcer(fixedLimits{"a": {TokensPerDay: 2_000}}, &fakeUsage{}, prometheus.NewRegistry(), nil)
	var c countRefusals
	e.ObserveRefusals(&c)
	for range 5 {
		_, _ = e.Admit(context.Background(), "a", "openai", "gpt-4o", 1000)
	}
	if n := c.n.Load(); n != 3 || c.quota.Load() != TokensPerDay {
		t.Fatalf("%d refusals observed (quota %v), want 3 of %s", n, c.quota.Load(), TokensPerDay)
	}
}
