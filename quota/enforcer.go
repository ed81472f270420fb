package quota

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawd-dev/clawd/usage"
)

// Source gives a namespace's limits (zero Limits: none).
type Source interface {
	Limits(namespace string) Limits
}

// Usage gives a namespace's model usage on the UTC day of now, every node
// included (usage.Counter).
type Usage interface {
	Used(ctx context.Context, namespace string, now time.Time) ([]usage.Model, error)
}

// Quota names, as in the quota file.
const (
	TokensPerDay    = "api.tokensPerDay"
	RequestsPerHour = "api.requestsPerHour"
	CallsPerDay     = "models.maxCallsPerDay"
)

// Refusal says which quota a call is over and when it resets.
type Refusal struct {
	Quota string // e.g. api.tokensPerDay, models.maxCallsPerDay.gpt-4o
	Limit int64
	Reset time.Time
}

// RetryAfter is how long until the quota resets.
func (r *Refusal) RetryAfter(now time.Time) time.Duration { return r.Reset.Sub(now) }

func (r *Refusal) Error() string {
	window := "daily"
	if r.Quota == RequestsPerHour {
		window = "hourly"
	}
	return fmt.Sprintf("quota exceeded: the %s usage limit %s=%d is reached; it resets at %s",
		window, r.Quota, r.Limit, r.Reset.UTC().Format(time.RFC3339))
}

// Enforcer admits model calls against api.tokensPerDay and
// models.maxCallsPerDay. A call is admitted while what was used plus what
// admitted calls in flight reserved is under the limit, and reserves its
// estimate until it is settled (counted by usage): concurrent calls cannot
// overshoot a quota by more than the last admitted call. Reservations are
// this node's; other nodes' calls show once they write their counts (every
// few seconds).
type Enforcer struct {
	src   Source
	used  Usage
	log   hclog.Logger
	now   func() time.Time
	rejec *prometheus.CounterVec

	mu       sync.Mutex
	reserved map[string]*held // namespace → reservations in flight
}

type held struct {
	day    string
	tokens int64
	calls  map[string]int64 // model → calls
}

// NewEnforcer returns an Enforcer; reg (may be nil) gets
// clawd_quota_rejections_total{namespace,quota}.
func NewEnforcer(src Source, used Usage, reg prometheus.Registerer, log hclog.Logger) *Enforcer {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	e := &Enforcer{src: src, used: used, log: log, now: time.Now, reserved: map[string]*held{}}
	e.rejec = newRejections()
	if reg != nil {
		reg.MustRegister(e.rejec)
	}
	return e
}

// Rejections is clawd_quota_rejections_total, for NewRequests to share.
func (e *Enforcer) Rejections() *prometheus.CounterVec { return e.rejec }

// Forget drops a deleted namespace's series.
func (e *Enforcer) Forget(namespace string) {
	e.rejec.DeletePartialMatch(prometheus.Labels{"namespace": namespace})
}

// Admit decides whether namespace may call model (its "provider/model" or
// bare name: a limit may name either), reserving estimate tokens. It
// returns the release to call once the call is counted, or why not. A
// failure to read the usage admits the call (logged): quotas must not
// stop a tenant because the store is slow.
func (e *Enforcer) Admit(ctx context.Context, namespace, provider, model string, estimate int64) (release func(), err error) {
	release, refusal := e.admit(ctx, namespace, provider, model, estimate)
	if refusal != nil {
		return nil, refusal
	}
	return release, nil
}

func (e *Enforcer) admit(ctx context.Context, namespace, provider, model string, estimate int64) (release func(), refusal *Refusal) {
	lim := e.src.Limits(namespace)
	callLimit, callQuota := callLimitFor(lim, provider, model)
	if lim.TokensPerDay == 0 && callLimit == 0 {
		return func() {}, nil
	}
	now := e.now().UTC()
	reset := NextDay(now)
	var tokens, calls int64
	used, err := e.used.Used(ctx, namespace, now)
	if err != nil {
		e.log.Warn("reading usage for quotas failed; admitting the call", "namespace", namespace, "error", err)
	}
	for _, m := range used {
		tokens += m.InputTokens + m.OutputTokens
		if Counts(callQuota, m.Model) {
			calls += m.Calls - m.Errors
		}
	}
	day := usage.DayOf(now)
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.reserved[namespace]
	if h == nil || h.day != day {
		h = &held{day: day, calls: map[string]int64{}}
		e.reserved[namespace] = h
	}
	switch {
	case lim.TokensPerDay > 0 && tokens+h.tokens >= lim.TokensPerDay:
		refusal = &Refusal{Quota: TokensPerDay, Limit: lim.TokensPerDay, Reset: reset}
	case callLimit > 0 && calls+h.calls[model] >= callLimit:
		refusal = &Refusal{Quota: callQuota, Limit: callLimit, Reset: reset}
	}
	if refusal != nil {
		e.rejec.WithLabelValues(namespace, refusal.Quota).Inc()
		return nil, refusal
	}
	h.tokens += estimate
	h.calls[model]++
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			h.tokens -= estimate
			h.calls[model]--
		})
	}, nil
}

// callLimitFor finds the maxCallsPerDay entry for a model: by
// "provider/model" first, then the bare model name.
func callLimitFor(lim Limits, provider, model string) (int64, string) {
	if n, ok := lim.CallsPerDay[provider+"/"+model]; ok {
		return n, CallsPerDay + "." + provider + "/" + model
	}
	if n, ok := lim.CallsPerDay[model]; ok {
		return n, CallsPerDay + "." + model
	}
	return 0, ""
}

// Counts says whether a model's calls ("provider/model") count against
// the call quota named key: a quota for a bare model counts that model
// from every provider.
func Counts(key, model string) bool {
	name, ok := strings.CutPrefix(key, CallsPerDay+".")
	if !ok {
		return false
	}
	if strings.Contains(name, "/") {
		return model == name
	}
	return strings.HasSuffix(model, "/"+name)
}

// NextDay is when the UTC day of t ends: daily quotas reset then.
func NextDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// NextHour is when the UTC hour of t ends: hourly quotas reset then.
func NextHour(t time.Time) time.Time { return t.UTC().Truncate(time.Hour).Add(time.Hour) }
