// Package router is the front door for tenants' traffic: it maps each
// request's API key or Host to the namespace that owns it and forwards it
// to that namespace's gateway, and to nothing else.
//
// It is built on fasthttp, server and upstream alike: on a 2-core host the
// standard library's ReverseProxy reached about a third of nginx's
// throughput, a fasthttp proxy about all of it (see router/bench).
package router

import (
	"bytes"
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// Watcher feeds the routing and key tables.
type Watcher interface {
	WatchNamespaces(ctx context.Context) <-chan store.Event
	WatchAPIKeys(ctx context.Context) <-chan store.APIKeyEvent
	// WatchConfig feeds the dynamic config (namespaces.<ns>.auth.requireKey,
	// true unless set otherwise): the full map at start and after every
	// change. The router is not Ready before the first.
	WatchConfig(ctx context.Context) <-chan map[string]string
}

// route is where one namespace's traffic goes right now.
type route struct {
	namespace string
	phase     namespace.Phase
	address   string
	// requireKey refuses requests without one of the namespace's API keys
	// (namespaces.<ns>.auth.requireKey), even through its hostnames.
	requireKey bool
	// requestsPerHour is the namespace's api.requestsPerHour; 0: none.
	requestsPerHour int64
	// suspended is why the namespace is kept asleep (billing); its
	// requests get 402 and never wake it.
	suspended string
	// up is the connection pool to address, shared by every route and
	// wake that names the same address.
	up *upstream
	// peerNode is the node the namespace is placed on when that is not
	// this one: its requests go to that node's peer listener (see
	// forward_node.go), which holds, wakes and serves them.
	peerNode string
	// direct is the same namespace reached at its gateway's address, for
	// when its node has no peer listener (daemons sharing one host and
	// engine, as before clusters forwarded); nil: none.
	direct *route
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
	ups   upstreams
	names map[string]namespace.Namespace // owned by the watch goroutine
	// values is the latest dynamic config, also the watch goroutine's.
	values map[string]string
	ready  chan struct{}
	// login is the namespaces' sign-in with their identity providers;
	// nil: none (see oidc.go).
	login Login

	waker       Waker
	activity    Activity
	gate        Gate
	wakeTimeout time.Duration

	requests Requests         // quotas; nil admits all
	counters []RequestCounter // told of each admitted request

	obs observers // access log and metrics; see observe.go

	auditor atomic.Pointer[AuthAuditor] // nil: no audit (see audit.go)
	calls   atomic.Pointer[CallAuditor] // nil: WebSocket requests not audited

	// node is this node's name and peers dials the others; both unset,
	// every namespace is served here (see forward_node.go).
	node  string
	peers PeerDialer
}

// New makes a router; Run feeds it and Server serves it.
func New(log hclog.Logger) *Router {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	r := &Router{log: log, names: map[string]namespace.Namespace{}, ready: make(chan struct{})}
	r.table.Store(&table{byHost: map[string]*route{}, byName: map[string]*route{}})
	r.auth.init()
	r.ups.init()
	return r
}

// Ready is closed once the first snapshots of the store are in the tables.
func (r *Router) Ready() <-chan struct{} { return r.ready }

// Run keeps the table in step with the store until ctx ends. It is Ready
// once it has the namespaces, the keys and the dynamic config: a namespace
// that requires a key is never served without.
func (r *Router) Run(ctx context.Context, w Watcher) {
	go r.runKeys(ctx, w)
	values, haveValues := w.WatchConfig(ctx), false
	haveNames, announced := false, false
	events := w.WatchNamespaces(ctx)
	for {
		select {
		case v, ok := <-values:
			if !ok {
				values, haveValues = nil, true
				continue
			}
			r.values, haveValues = v, true
		case ev, ok := <-events:
			if !ok {
				return
			}
			r.apply(ev)
			// A burst of changes (a restore, a bulk create) costs one
			// rebuild, not one per event: only the newest table matters.
			for more := true; more; {
				select {
				case ev, ok := <-events:
					if more = ok; ok {
						r.apply(ev)
					}
				default:
					more = false
				}
			}
			haveNames = true
		case <-ctx.Done():
			return
		}
		r.rebuild()
		if haveNames && haveValues && !announced {
			announced = true
			go func() {
				select {
				case <-r.auth.ready:
				case <-ctx.Done():
					return
				}
				select {
				case <-r.loginReady():
					close(r.ready)
				case <-ctx.Done():
				}
			}()
		}
	}
}

func (r *Router) apply(ev store.Event) {
	switch ev.Type {
	case store.EventReset:
		r.names = make(map[string]namespace.Namespace, len(ev.Snapshot))
		for _, ns := range ev.Snapshot {
			r.names[ns.Spec.Name] = ns
		}
	case store.EventPut:
		r.names[ev.Name] = ev.Namespace
	case store.EventDelete:
		delete(r.names, ev.Name)
	}
}

// rebuild swaps in a fresh table. Copy-on-write keeps the request path free
// of locks; the cost is paid once per change, not per request.
func (r *Router) rebuild() {
	t := &table{byHost: make(map[string]*route, len(r.names)), byName: make(map[string]*route, len(r.names))}
	addrs := make(map[string]bool)
	for _, ns := range r.names {
		rt := &route{namespace: ns.Spec.Name, phase: ns.Status.Phase, address: ns.Status.Address}
		if q := ns.Spec.Quota; q != nil {
			rt.requestsPerHour = q.RequestsPerHour
		}
		if ns.Spec.Suspended != nil {
			rt.suspended = ns.Spec.Suspended.Reason
		}
		// Before the config arrives the default holds: a key is needed.
		v, _ := config.Effective(r.values, ns.Spec.Name, "auth.requireKey")
		rt.requireKey = v == "true"
		if rt.address != "" {
			rt.up = r.ups.get(rt.address)
			addrs[rt.address] = true
		}
		if node := ns.Spec.Node; r.peers != nil && node != "" && node != r.node {
			direct := *rt
			rt.direct = &direct
			rt.peerNode, rt.address = node, peerKey(node)
			rt.up = r.ups.peer(node, r.peers)
			addrs[rt.address] = true
		}
		t.byName[ns.Spec.Name] = rt
		for _, h := range ns.Spec.Hostnames {
			t.byHost[h] = rt
		}
	}
	r.table.Store(t)
	r.ups.retain(addrs)
}

// running reports whether requests can go to the route's gateway now.
func (rt *route) running() bool {
	return rt.phase == namespace.PhaseRunning && rt.up != nil
}

// routeHost is the host a request is routed by, lowercased, without port
// or trailing dot: the authority of an absolute-form target (RFC 9112
// §3.2.2 says the Host header is then ignored), else the Host header. The
// server parsed both into the URI; the gateway is told this same host.
func routeHost(uriHost []byte) []byte {
	h := uriHost
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return bytes.TrimSuffix(h, []byte{'.'})
}

func phaseOrPending(p namespace.Phase) namespace.Phase {
	if p == "" {
		return namespace.PhasePending
	}
	return p
}
