package router

import (
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/problem"
	"github.com/clawd-dev/clawd/quota"
)

// Requests is told of every tenant request the router would forward to a
// gateway (each HTTP request, and each OpenClaw "req" frame a client sends
// on a WebSocket) and may refuse it.
type Requests interface {
	// Admit counts one request of namespace ns at now, or refuses it,
	// counting nothing, with the quota it is over. limit is the
	// namespace's api.requestsPerHour, 0 for none.
	Admit(ns string, limit int64, now time.Time) *quota.Refusal
}

// RequestCounter is told of every tenant request admitted, as it is (the
// metering ledger's api_requests meter).
type RequestCounter interface {
	Counted(ns string, n int)
}

var _ Requests = (*quota.Requests)(nil)

// CountRequests makes the router ask q (nil: admit all) before it forwards
// a tenant request, and tell counters of each one admitted. Call it
// before serving.
func (r *Router) CountRequests(q Requests, counters ...RequestCounter) {
	r.requests = q
	r.counters = append(r.counters, counters...)
}

// counting reports whether requests are counted or checked at all; without
// it the WebSocket relay need not read frames.
func (r *Router) counting() bool {
	return r.requests != nil || len(r.counters) > 0 || r.calls.Load() != nil
}

// admit counts one request of ns, whose limit is limit, at now, or
// returns why it is refused.
func (r *Router) admit(ns string, limit int64, now time.Time) *quota.Refusal {
	if r.requests != nil {
		if ref := r.requests.Admit(ns, limit, now); ref != nil {
			return ref
		}
	}
	for _, c := range r.counters {
		c.Counted(ns, 1)
	}
	return nil
}

// started is when the exchange began, if the observers asked for it
// (a clock read costs about as much as the rest of an admission), else now.
func (x *exchange) started() time.Time {
	if x.info != nil {
		return x.info.Start
	}
	return time.Now()
}

// quotaProblem names the quota a request is over, its limit and when it
// resets.
type quotaProblem struct {
	problem.Problem
	Quota  string    `json:"quota"`
	Limit  int64     `json:"limit"`
	Resets time.Time `json:"resets"`
}

// overQuota answers 429 for a request past a quota.
func overQuota(ctx *fasthttp.RequestCtx, x *exchange, ns string, ref *quota.Refusal) {
	now := time.Now()
	x.setRateHeaders(&ctx.Response.Header)
	retryAfter(ctx, ref.RetryAfter(now))
	writeProblem(ctx, fasthttp.StatusTooManyRequests, quotaProblem{
		Problem: problem.Problem{Title: "Quota exceeded", Namespace: ns,
			Detail: fmt.Sprintf("namespace %s used its %s of %d; it resets at %s", ns, ref.Quota, ref.Limit,
				ref.Reset.UTC().Format(time.RFC3339))},
		Quota: ref.Quota, Limit: ref.Limit, Resets: ref.Reset.UTC(),
	})
}
