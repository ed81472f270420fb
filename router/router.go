// Package router is the front door for tenants' traffic: it maps each
// request's API key or Host to the namespace that owns it and forwards it
// to that namespace's gateway, and to nothing else.
package router

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/problem"
	"github.com/clawd-dev/clawd/store"
)

// Watcher feeds the routing and key tables.
type Watcher interface {
	WatchNamespaces(ctx context.Context) <-chan store.Event
	WatchAPIKeys(ctx context.Context) <-chan store.APIKeyEvent
}

// route is where one namespace's traffic goes right now.
type route struct {
	namespace string
	phase     namespace.Phase
	address   string
}

// table is an immutable snapshot; lookups never take a lock.
type table struct {
	byHost map[string]*route
	byName map[string]*route
}

// Router forwards requests by API key or Host.
type Router struct {
	log   hclog.Logger
	table atomic.Pointer[table]
	auth  keyAuth
	proxy *httputil.ReverseProxy
	names map[string]namespace.Namespace // owned by the watch goroutine
	ready chan struct{}

	waker       Waker
	activity    Activity
	wakeTimeout time.Duration

	obs observers // access log and metrics; see observe.go
}

type ctxKey struct{}

// New makes a router; Run feeds it.
func New(log hclog.Logger) *Router {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	r := &Router{log: log, names: map[string]namespace.Namespace{}, ready: make(chan struct{})}
	r.table.Store(&table{byHost: map[string]*route{}})
	r.auth.init()
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // gateways stream; the client decides how long to wait
	}
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			rt := pr.In.Context().Value(ctxKey{}).(*route)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = rt.address
			pr.SetXForwarded()
			stripKeys(pr.Out.Header)
			pr.Out.Host = pr.In.Host
		},
		Transport:     transport,
		FlushInterval: -1, // stream SSE and chunked replies as they come
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			rt := req.Context().Value(ctxKey{}).(*route)
			log.Warn("gateway unreachable", "namespace", rt.namespace, "error", err)
			problem.RetryAfter(w, 2*time.Second)
			problem.Write(w, problem.Problem{Status: http.StatusBadGateway, Namespace: rt.namespace,
				Detail: fmt.Sprintf("the gateway of namespace %s did not answer; retry shortly", rt.namespace)})
		},
	}
	return r
}

// Ready is closed once the first snapshots of the store are in the tables.
func (r *Router) Ready() <-chan struct{} { return r.ready }

// Run keeps the table in step with the store until ctx ends.
func (r *Router) Run(ctx context.Context, w Watcher) {
	go r.runKeys(ctx, w)
	first := true
	for ev := range w.WatchNamespaces(ctx) {
		switch ev.Type {
		case store.EventReset:
			r.names = map[string]namespace.Namespace{}
			for _, ns := range ev.Snapshot {
				r.names[ns.Spec.Name] = ns
			}
		case store.EventPut:
			r.names[ev.Name] = ev.Namespace
		case store.EventDelete:
			delete(r.names, ev.Name)
		}
		r.rebuild()
		if first {
			go func() {
				select {
				case <-r.auth.ready:
					close(r.ready)
				case <-ctx.Done():
				}
			}()
			first = false
		}
	}
}

// rebuild swaps in a fresh table. Copy-on-write keeps the request path free
// of locks; the cost is paid once per change, not per request.
func (r *Router) rebuild() {
	t := &table{byHost: make(map[string]*route, len(r.names)), byName: make(map[string]*route, len(r.names))}
	for _, ns := range r.names {
		rt := &route{namespace: ns.Spec.Name, phase: ns.Status.Phase, address: ns.Status.Address}
		t.byName[ns.Spec.Name] = rt
		for _, h := range ns.Spec.Hostnames {
			t.byHost[h] = rt
		}
	}
	r.table.Store(t)
}

// hostOf returns the request's host without port, lowercased. Requests in
// absolute form carry the authority in the URL, which Go copies to r.Host.
func hostOf(req *http.Request) string {
	h := req.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if len(r.obs.list) > 0 {
		o := r.observe(w, req)
		defer o.done()
		w = o
	}
	host := hostOf(req)
	t := r.table.Load()
	rt, ok := r.authenticate(w, req, t, host, t.byHost[host])
	if !ok {
		return
	}
	if rt == nil {
		problem.Write(w, problem.Problem{Status: http.StatusNotFound, Title: "Unknown host",
			Detail: fmt.Sprintf("no namespace serves host %q", host)})
		return
	}
	noteNamespace(w, rt.namespace)
	if r.activity != nil {
		// Counted from before any wake, so a held request keeps the
		// namespace awake once it is up.
		r.activity.Begin(rt.namespace)
		defer r.activity.End(rt.namespace)
	}
	if rt.phase != namespace.PhaseRunning || rt.address == "" {
		if rt = r.hold(w, req, rt); rt == nil {
			return
		}
	}
	r.proxy.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), ctxKey{}, rt)))
}

func phaseOrPending(p namespace.Phase) namespace.Phase {
	if p == "" {
		return namespace.PhasePending
	}
	return p
}
