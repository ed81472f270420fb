package router

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// RequestInfo describes one finished request. Observers must not keep the
// pointer past their call.
type RequestInfo struct {
	Start time.Time
	// Namespace is empty when the request was refused before it was routed
	// (unknown host, bad key).
	Namespace string
	KeyID     string
	Method    string
	Host      string
	// Path has no query string: queries can carry secrets.
	Path     string
	Remote   string
	Status   int
	BytesIn  int64
	BytesOut int64
	Duration time.Duration
	// WakeWaited is how long the request was held while its namespace woke.
	WakeWaited time.Duration
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

// Observe makes the router report every request to obs; call it before
// serving. Without observers the request path pays nothing.
func (r *Router) Observe(obs ...Observer) {
	r.obs.list = append(r.obs.list, obs...)
	for _, o := range obs {
		if wo, ok := o.(WakeObserver); ok {
			r.obs.wake = append(r.obs.wake, wo)
		}
	}
}

// observers is the router's observation state.
type observers struct {
	list []Observer
	wake []WakeObserver

	mu      sync.Mutex
	flights map[string]*wakeFlight // wakes in progress by namespace
}

// observed wraps a request's ResponseWriter to learn its status and size;
// the router notes the namespace, key and wake wait on it as it learns them.
type observed struct {
	http.ResponseWriter
	info    RequestInfo
	body    countingBody
	wrote   bool
	obs     *observers
	started time.Time
}

// Unwrap lets http.ResponseController reach Flush and Hijack, which
// streaming and WebSocket upgrades need.
func (o *observed) Unwrap() http.ResponseWriter { return o.ResponseWriter }

func (o *observed) WriteHeader(code int) {
	if !o.wrote && code >= 200 || code == http.StatusSwitchingProtocols {
		o.info.Status, o.wrote = code, true
	}
	o.ResponseWriter.WriteHeader(code)
}

func (o *observed) Write(p []byte) (int, error) {
	if !o.wrote {
		o.info.Status, o.wrote = http.StatusOK, true
	}
	n, err := o.ResponseWriter.Write(p)
	o.info.BytesOut += int64(n)
	return n, err
}

// Hijack is how the proxy takes over a connection for a WebSocket; the
// 101 it then writes never passes through WriteHeader.
func (o *observed) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(o.ResponseWriter).Hijack()
	if err == nil && !o.wrote {
		o.info.Status, o.wrote = http.StatusSwitchingProtocols, true
	}
	return c, rw, err
}

// Flush keeps the wrapper an http.Flusher for code that asserts it.
func (o *observed) Flush() {
	if !o.wrote {
		o.info.Status, o.wrote = http.StatusOK, true
	}
	_ = http.NewResponseController(o.ResponseWriter).Flush()
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// observe starts observing a request; the caller defers done.
func (r *Router) observe(w http.ResponseWriter, req *http.Request) *observed {
	o := &observed{ResponseWriter: w, obs: &r.obs, started: time.Now()}
	o.info = RequestInfo{Start: o.started, Method: req.Method, Host: req.Host, Path: req.URL.Path, Remote: req.RemoteAddr}
	if req.Body != nil && req.Body != http.NoBody {
		o.body.ReadCloser = req.Body
		req.Body = &o.body
	}
	return o
}

func (o *observed) done() {
	o.info.Duration = time.Since(o.started)
	o.info.BytesIn = o.body.n
	if !o.wrote {
		// The client left before an answer (a wake it gave up on) or a
		// hijacked connection wrote none through us.
		o.info.Status = 499
	}
	for _, ob := range o.obs.list {
		ob.ObserveRequest(&o.info)
	}
}

// noteNamespace records the namespace a request was routed to.
func noteNamespace(w http.ResponseWriter, ns string) {
	if o, ok := w.(*observed); ok {
		o.info.Namespace = ns
	}
}

// noteKey records the API key a request presented, if the router knows it.
func noteKey(w http.ResponseWriter, e *keyEntry) {
	if o, ok := w.(*observed); ok && e != nil {
		o.info.KeyID = e.id
	}
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
func (r *Router) wakeEnd(w http.ResponseWriter, f *wakeFlight, waited time.Duration, err error, clientLeft bool) {
	if o, ok := w.(*observed); ok {
		o.info.WakeWaited = waited
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
