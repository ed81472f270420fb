package router

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/namespace"
)

// Waker brings a sleeping namespace back and returns its ready gateway's
// address; concurrent calls for one namespace share one wake.
type Waker interface {
	Wake(ctx context.Context, name string) (string, error)
}

// failedWake is a wake error for a gateway that keeps failing
// (supervisor.FailedError): why, in words a tenant may read, and when
// clawd tries again. It is answered at once, never held.
type failedWake interface {
	error
	TenantReason() string
	RetryAt() time.Time
}

// Activity is the idle tracker: every request, WebSocket and stream counts
// from its first byte to its last.
type Activity interface {
	Begin(ns string)
	End(ns string)
}

// Gate says whether a namespace's gateway is being put to sleep (see
// reaper.Activity.Close); the router then holds its requests and wakes it.
type Gate interface {
	Closed(ns string) bool
}

// SetGate makes the router ask g before it sends a request of a Running
// namespace straight to its gateway. Call it before serving.
func (r *Router) SetGate(g Gate) { r.gate = g }

// Lifecycle connects the router to the supervisor (hold-and-wake) and the
// idle tracker. Without it the router answers 503 for sleeping namespaces.
// Call it before serving.
func (r *Router) Lifecycle(w Waker, a Activity, wakeTimeout time.Duration) {
	r.waker, r.activity, r.wakeTimeout = w, a, wakeTimeout
}

// hold waits for a namespace that is not Running to be woken, then returns
// the route to use. On failure it has written the reply and returns nil;
// when the client left first it has written nothing.
func (r *Router) hold(ctx *fasthttp.RequestCtx, x *exchange, rt *route) *route {
	if r.waker == nil {
		retryAfter(ctx, 5*time.Second)
		writeProblem(ctx, fasthttp.StatusServiceUnavailable, problemf(rt.namespace, "namespace %s is %s; retry shortly", rt.namespace, phaseOrPending(rt.phase)))
		return nil
	}
	// Not derived from ctx: fasthttp recycles a RequestCtx once the
	// handler returns, and a timer context's own cancel may still be
	// reading its parent then (a race). A client leaving cancels it below.
	wctx, cancel := context.WithTimeout(context.Background(), r.wakeTimeout)
	defer cancel()
	w := watchClient(ctx, cancel)
	start := time.Now()
	flight := r.wakeBegin(rt.namespace)
	addr, err := r.waker.Wake(wctx, rt.namespace)
	if err == nil && addr == "" {
		err = errors.New("the woken gateway has no address")
	}
	waited := time.Since(start)
	left := w.stop(ctx)
	r.wakeEnd(x, flight, waited, err, left)
	if left {
		x.gone = true
		return nil
	}
	if err == nil {
		r.log.Debug("held request until the namespace woke", "namespace", rt.namespace, "waited", waited)
		return &route{namespace: rt.namespace, phase: namespace.PhaseRunning, address: addr, up: r.ups.get(addr), requestsPerHour: rt.requestsPerHour}
	}
	r.log.Warn("wake failed", "namespace", rt.namespace, "waited", waited, "error", err)
	x.setRateHeaders(&ctx.Response.Header)
	if f, ok := errors.AsType[failedWake](err); ok {
		// The gateway's own trouble is the tenant's to know (their code,
		// their memory limit); clawd's retry schedule says when to come back.
		wait := time.Until(f.RetryAt())
		if wait <= 0 {
			wait = 5 * time.Second
		}
		retryAfter(ctx, wait)
		writeProblem(ctx, fasthttp.StatusServiceUnavailable, problemf(rt.namespace,
			"this namespace's gateway keeps failing (%s); clawd starts it again in %s", f.TenantReason(), wait.Round(time.Second)))
		return nil
	}
	retryAfter(ctx, time.Minute)
	// The tenant is told what to do; why (memory figures, the budget) is
	// the operator's business and stays in the log above.
	p := problemf(rt.namespace, "the gateway is starting; retry in a minute")
	if !errors.Is(err, context.DeadlineExceeded) {
		p = problemf(rt.namespace, "this namespace cannot start now; contact the operator")
	}
	writeProblem(ctx, fasthttp.StatusServiceUnavailable, p)
	return nil
}

// clientWatch notices a held client hanging up. fasthttp does not tell a
// handler that its client left, but while a bodiless request waits for a
// wake nothing else reads its connection: a read there ends with EOF when
// the client goes. (A request with a body is not watched: those bytes are
// the gateway's.)
type clientWatch struct {
	conn  net.Conn
	done  chan struct{}
	left  atomic.Bool
	stole atomic.Bool // a pipelined request's first byte was read
}

// watchClient starts watching; gone is called if the client leaves.
func watchClient(ctx *fasthttp.RequestCtx, gone func()) *clientWatch {
	w := &clientWatch{conn: ctx.Conn(), done: make(chan struct{})}
	if w.conn == nil || hasBody(&ctx.Request.Header) {
		close(w.done)
		return w
	}
	// The head's read deadline must not end the watch early.
	_ = w.conn.SetReadDeadline(time.Time{})
	go func() {
		defer close(w.done)
		var b [1]byte
		n, err := w.conn.Read(b[:])
		if n > 0 {
			w.stole.Store(true)
			return
		}
		var nerr net.Error
		if err != nil && !(errors.As(err, &nerr) && nerr.Timeout()) {
			w.left.Store(true)
			gone()
		}
	}()
	return w
}

// stop ends the watch and says whether the client left.
func (w *clientWatch) stop(ctx *fasthttp.RequestCtx) bool {
	select {
	case <-w.done:
	default:
		_ = w.conn.SetReadDeadline(time.Now())
		<-w.done
		// The server sets its own deadline before it reads again.
		_ = w.conn.SetReadDeadline(time.Time{})
	}
	if w.stole.Load() {
		// The next request on this connection lost its first byte:
		// end the connection after this answer (clients retry).
		ctx.SetConnectionClose()
	}
	return w.left.Load()
}
