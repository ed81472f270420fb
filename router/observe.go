package router

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// RequestInfo describes one finished request. Observers must not keep the
// pointer past their call.
type RequestInfo struct {
	Start time.Time
	// Namespace is empty when the request was refused before it was routed
	// (unknown host, bad key).
	Namespace string
	KeyID     string
	// User is the signed-in user of a session ("oidc:…"); empty for a
	// key or no credential.
	User   string
	Method string
	Host   string
	// Path has no query string: queries can carry secrets.
	Path     string
	Remote   string
	Status   int
	BytesIn  int64
	BytesOut int64
	Duration time.Duration
	// WakeWaited is how long the request was held while its namespace woke.
	WakeWaited time.Duration
	// Peer is the node the request was forwarded to, which serves, counts
	// and audits it as its own; empty when served here.
	Peer string
}

// Observer is told about every request when it ends: the access log and
// the metrics.
type Observer interface {
	ObserveRequest(*RequestInfo)
}

// WakeObserver is an Observer that also wants to know about wakes: one call
// per wake, however many requests it held. result is "ok", "timeout",
// "error" or "abandoned" (every held client left first).
type WakeObserver interface {
	ObserveWake(ns string, d time.Duration, result string)
}

// PeerServedObserver is an Observer that is also told about the requests
// this node serves for another node's router (see HandlePeer): the audit,
// which the serving node records. The others (the access log, the
// metrics) hear of such a request once, on the node that took it.
type PeerServedObserver interface {
	Observer
	ObservesPeerServed()
}

// Observe makes the router report every request to obs; call it before
// serving. Without observers the request path pays nothing.
func (r *Router) Observe(obs ...Observer) {
	r.obs.list = append(r.obs.list, obs...)
	for _, o := range obs {
		if wo, ok := o.(WakeObserver); ok {
			r.obs.wake = append(r.obs.wake, wo)
		}
		if po, ok := o.(PeerServedObserver); ok {
			r.obs.peer = append(r.obs.peer, po)
		}
	}
}

// observers is the router's observation state.
type observers struct {
	list []Observer
	wake []WakeObserver
	peer []Observer // of list, those told about requests served for a peer

	mu      sync.Mutex
	flights map[string]*wakeFlight // wakes in progress by namespace
}

// exchange is one request from its routing to its last byte, which for a
// streamed reply or a WebSocket comes after the handler has returned. It
// counts the namespace as active and tells the observers when it ends.
type exchange struct {
	r      *Router
	ns     string // the namespace counted active; "" until routed
	active bool
	rate   *rateFields // RateLimit fields of a rate-limited key
	info   *RequestInfo
	obs    []Observer // told about info when it ends
	// forPeer: served for another node's router, which logs it; waited is
	// how long it was held while its namespace woke, sent back to that
	// node for its log line (see forward).
	forPeer bool
	waited  time.Duration
	gone    bool   // the client left before an answer (499)
	keyID   string // the API key the request presented; "" without one
	user    string // the signed-in user of a session (see oidc.go)
}

var (
	exchanges = sync.Pool{New: func() any { return &exchange{} }}
	infos     = sync.Pool{New: func() any { return &RequestInfo{} }}
)

// begin starts a request's exchange. Only with observers does it copy
// what they will be told; the request path pays nothing otherwise.
func (r *Router) begin(ctx *fasthttp.RequestCtx) *exchange {
	return r.beginFor(ctx, r.obs.list)
}

// beginFor starts an exchange whose end obs are told about.
func (r *Router) beginFor(ctx *fasthttp.RequestCtx, obs []Observer) *exchange {
	x := exchanges.Get().(*exchange)
	x.r, x.obs = r, obs
	if len(obs) > 0 {
		i := infos.Get().(*RequestInfo)
		*i = RequestInfo{
			Start:  time.Now(),
			Method: string(ctx.Method()),
			Host:   string(ctx.Host()),
			Path:   string(ctx.Path()),
			Remote: ctx.RemoteAddr().String(),
		}
		if n := ctx.Request.Header.ContentLength(); n > 0 {
			i.BytesIn = int64(n)
		}
		x.info = i
	}
	return x
}

// named records the namespace of a request refused after routing (over a
// quota) for the observers, without counting it as activity.
func (x *exchange) named(ns string) {
	if x.info != nil {
		x.info.Namespace = ns
	}
}

// routed records the namespace the request goes to and counts it active
// from here, before any wake, so a held request keeps the namespace awake
// once it is up.
func (x *exchange) routed(ns string) {
	x.ns = ns
	if x.info != nil {
		x.info.Namespace = ns
	}
	if x.r.activity != nil {
		x.r.activity.Begin(ns)
		x.active = true
	}
}

// keyed records the API key the request presented, if the router knows it.
func (x *exchange) keyed(e *keyEntry) {
	if e == nil {
		return
	}
	x.keyID = e.id // forwarded only once the key is accepted; see identify
	if x.info != nil {
		x.info.KeyID = e.id
	}
}

// setRateHeaders puts the request's RateLimit fields, if any, on h.
func (x *exchange) setRateHeaders(h *fasthttp.ResponseHeader) {
	if x.rate != nil {
		x.rate.set(h)
	}
}

// finish ends the exchange: status is what the client was answered
// (101 for a WebSocket, 499 when it left before an answer) and bytesOut
// the body bytes (or WebSocket bytes) sent to it. It is called once.
func (x *exchange) finish(status int, bytesOut int64) {
	if x.gone {
		status = 499
	}
	if x.active {
		x.r.activity.End(x.ns)
	}
	if i := x.info; i != nil {
		i.Status, i.BytesOut = status, bytesOut
		i.Duration = time.Since(i.Start)
		for _, o := range x.obs {
			o.ObserveRequest(i)
		}
		infos.Put(i)
	}
	*x = exchange{}
	exchanges.Put(x)
}

// wakeFlight is one wake as the router sees it: it begins with the first
// request held for a namespace and ends with the first answer any of the
// held requests gets.
type wakeFlight struct {
	ns      string
	start   time.Time
	waiters int
	ended   bool
}

// wakeBegin joins or starts the namespace's wake flight; nil without wake
// observers.
func (r *Router) wakeBegin(ns string) *wakeFlight {
	if len(r.obs.wake) == 0 {
		return nil
	}
	r.obs.mu.Lock()
	defer r.obs.mu.Unlock()
	if r.obs.flights == nil {
		r.obs.flights = map[string]*wakeFlight{}
	}
	f := r.obs.flights[ns]
	if f == nil {
		f = &wakeFlight{ns: ns, start: time.Now()}
		r.obs.flights[ns] = f
	}
	f.waiters++
	return f
}

// wakeEnd records how one held request's wait ended: the first answer ends
// the flight and is reported; a client leaving only ends it if it was the
// last one waiting.
func (r *Router) wakeEnd(x *exchange, f *wakeFlight, waited time.Duration, err error, clientLeft bool) {
	x.waited = waited
	if x.info != nil {
		x.info.WakeWaited = waited
	}
	if f == nil {
		return
	}
	result := wakeResult(err)
	if clientLeft {
		result = "abandoned"
	}
	r.obs.mu.Lock()
	f.waiters--
	report := !f.ended && (!clientLeft || f.waiters == 0)
	if report {
		f.ended = true
		if r.obs.flights[f.ns] == f {
			delete(r.obs.flights, f.ns)
		}
	}
	r.obs.mu.Unlock()
	if report {
		d := time.Since(f.start)
		for _, wo := range r.obs.wake {
			wo.ObserveWake(f.ns, d, result)
		}
	}
}

func wakeResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "error"
	}
}

// Activities fans the router's activity calls out to several trackers, such
// as the idle tracker and the active-connections gauge.
func Activities(as ...Activity) Activity { return activities(as) }

type activities []Activity

func (as activities) Begin(ns string) {
	for _, a := range as {
		a.Begin(ns)
	}
}

func (as activities) End(ns string) {
	for _, a := range as {
		a.End(ns)
	}
}
