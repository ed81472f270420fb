package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/problem"
)

// Waker brings a sleeping namespace back and returns its ready gateway's
// address; concurrent calls for one namespace share one wake.
type Waker interface {
	Wake(ctx context.Context, name string) (string, error)
}

// Activity is the idle tracker: every request, WebSocket and stream counts
// from its first byte to its last.
type Activity interface {
	Begin(ns string)
	End(ns string)
}

// Lifecycle connects the router to the supervisor (hold-and-wake) and the
// idle tracker. Without it the router answers 503 for sleeping namespaces.
func (r *Router) Lifecycle(w Waker, a Activity, wakeTimeout time.Duration) {
	r.waker, r.activity, r.wakeTimeout = w, a, wakeTimeout
}

// hold waits for a namespace that is not Running to be woken, then returns
// the route to use. On failure it has written the reply and returns nil.
func (r *Router) hold(w http.ResponseWriter, req *http.Request, rt *route) *route {
	if r.waker == nil {
		problem.RetryAfter(w, 5*time.Second)
		problem.Write(w, problem.Problem{Status: http.StatusServiceUnavailable, Namespace: rt.namespace,
			Detail: fmt.Sprintf("namespace %s is %s; retry shortly", rt.namespace, phaseOrPending(rt.phase))})
		return nil
	}
	ctx, cancel := context.WithTimeout(req.Context(), r.wakeTimeout)
	defer cancel()
	start := time.Now()
	flight := r.wakeBegin(rt.namespace)
	addr, err := r.waker.Wake(ctx, rt.namespace)
	r.wakeEnd(w, flight, time.Since(start), err, req.Context().Err() != nil)
	if err == nil {
		r.log.Debug("held request until the namespace woke", "namespace", rt.namespace, "waited", time.Since(start))
		return &route{namespace: rt.namespace, phase: namespace.PhaseRunning, address: addr}
	}
	if req.Context().Err() != nil {
		return nil // the client left
	}
	r.log.Warn("wake failed", "namespace", rt.namespace, "waited", time.Since(start), "error", err)
	problem.RetryAfter(w, 5*time.Second)
	detail := fmt.Sprintf("namespace %s is waking up and not ready yet; retry shortly", rt.namespace)
	if !errors.Is(err, context.DeadlineExceeded) {
		detail = fmt.Sprintf("namespace %s cannot be woken: %v", rt.namespace, err)
	}
	problem.Write(w, problem.Problem{Status: http.StatusServiceUnavailable, Namespace: rt.namespace, Detail: detail})
	return nil
}
