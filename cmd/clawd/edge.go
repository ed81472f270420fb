package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/clawd-dev/clawd/auth"
	"github.com/clawd-dev/clawd/certs"
	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/metrics"
	"github.com/clawd-dev/clawd/router"
	"github.com/clawd-dev/clawd/store"
)

// edge is what surrounds the router's plain listener: the HTTPS listener
// with its certificates, the access log and the metrics.
type edge struct {
	cfg *config.Static
	log hclog.Logger

	certs  *certs.Manager // nil: TLS off
	tlsLn  net.Listener
	tlsSrv *fasthttp.Server
	rtr    *router.Router // set by observe, before any handshake

	reg    *prometheus.Registry
	m      *metrics.Router
	logins *metrics.Login
	access *router.AccessLog
}

// newEdge loads the certificates and binds the TLS listener, so a bad
// certificate directory or a busy port fails `clawd up` at once.
func newEdge(cfg *config.Static, log hclog.Logger) (*edge, error) {
	e := &edge{cfg: cfg, log: log, reg: metrics.NewRegistry()}
	e.m = metrics.NewRouter(e.reg)
	e.logins = metrics.NewLogin(e.reg)
	r := cfg.Router
	if r.TLSAddress == "" {
		return e, nil
	}
	cc := certs.Config{Dir: r.CertDir, Logger: log.Named("tls")}
	if r.ACME != nil && r.ACME.CAServer != "" {
		cc.ACME = &certs.ACME{
			DirectoryURL: r.ACME.CAServer,
			Email:        r.ACME.Email,
			RootsFile:    r.ACME.CARoots,
			CacheDir:     filepath.Join(cfg.DataDir, "acme"),
			Owns:         func(host string) bool { return e.rtr != nil && e.rtr.Owns(host) },
		}
	}
	cm, err := certs.New(cc)
	if err != nil {
		return nil, fmt.Errorf("router TLS: %w (see --router.certdir, --router.acme.*)", err)
	}
	if cm.Empty() {
		log.Info("no certificate source (--router.certdir, --router.acme.caserver); HTTPS listener not opened")
		return e, nil
	}
	ln, err := net.Listen("tcp", r.TLSAddress)
	if err != nil {
		return nil, fmt.Errorf("router TLS listener on %s: %w (set --router.tlsaddress, empty to disable)", r.TLSAddress, err)
	}
	e.certs, e.tlsLn = cm, ln
	return e, nil
}

// observe hooks the access log and the metrics into the router and returns
// the activity tracker to give it: the idle tracker and the gauge of
// active connections.
func (e *edge) observe(ctx context.Context, rtr *router.Router, idle router.Activity) router.Activity {
	e.rtr = rtr
	obs := []router.Observer{routerMetrics{e.m}}
	if e.cfg.Router.AccessLog {
		e.access = router.NewAccessLog(os.Stdout)
		e.reg.MustRegister(e.access)
		go e.access.Run(ctx, time.Second)
		obs = append(obs, e.access)
	}
	rtr.Observe(obs...)
	if e.certs != nil {
		go e.certs.Run(ctx)
	}
	return router.Activities(idle, e.m)
}

// forget drops deleted namespaces' series until ctx ends, so tenant churn
// does not grow /metrics forever.
func (e *edge) forget(ctx context.Context, w interface {
	WatchNamespaces(context.Context) <-chan store.Event
}, also ...func(string)) {
	drop := func(n string) {
		e.m.Forget(n)
		e.logins.Forget(n)
		for _, f := range also {
			f(n)
		}
	}
	known := map[string]bool{}
	for ev := range w.WatchNamespaces(ctx) {
		switch ev.Type {
		case store.EventReset:
			live := make(map[string]bool, len(ev.Snapshot))
			for _, ns := range ev.Snapshot {
				live[ns.Spec.Name] = true
			}
			for n := range known {
				if !live[n] {
					drop(n)
				}
			}
			known = live
		case store.EventPut:
			known[ev.Name] = true
		case store.EventDelete:
			delete(known, ev.Name)
			drop(ev.Name)
		}
	}
}

// metrics serves the Prometheus registry.
func (e *edge) metrics() http.Handler { return metrics.Handler(e.reg) }

// plain wraps the plain listener's handler: ACME HTTP-01 challenges and the
// optional redirect to HTTPS. Those are net/http handlers (autocert's);
// only the requests they answer take the adaptor's slower path.
func (e *edge) plain(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	if e.certs == nil {
		return h
	}
	_, port, _ := net.SplitHostPort(e.tlsLn.Addr().String())
	redirect := e.cfg.Router.HTTPSRedirect
	slow := fasthttpadaptor.NewFastHTTPHandler(e.certs.HTTPHandler(http.NotFoundHandler(), redirect, port))
	acme := e.certs.ACME()
	return func(ctx *fasthttp.RequestCtx) {
		if acme && bytes.HasPrefix(ctx.Path(), []byte("/.well-known/acme-challenge/")) {
			slow(ctx)
			return
		}
		if redirect {
			host := string(ctx.Host())
			if hh, _, err := net.SplitHostPort(host); err == nil {
				host = hh
			}
			if e.certs.CanServe(host) {
				slow(ctx)
				return
			}
		}
		h(ctx)
	}
}

// serve runs the HTTPS listener, if any, with the router's own server: one
// for plain HTTP and one for TLS, so each listener keeps its handler.
// HTTP/1.1 only, as on the plain listener: WebSocket upgrades and the
// forwarding path behave the same on both.
func (e *edge) serve(srv *fasthttp.Server, errc chan<- error) {
	if e.certs == nil {
		return
	}
	e.tlsSrv = srv
	e.log.Info("router HTTPS listener", "address", e.tlsLn.Addr().String(), "acme", e.certs.ACME(), "https_redirect", e.cfg.Router.HTTPSRedirect)
	ln := tls.NewListener(e.tlsLn, e.certs.TLSConfig(false))
	go func() { errc <- serveRouter(e.tlsSrv, ln) }()
}

// shutdown drains the HTTPS listener and writes out the access log.
func (e *edge) shutdown(ctx context.Context) {
	if e.tlsSrv != nil {
		_ = e.tlsSrv.ShutdownWithContext(ctx)
	} else if e.tlsLn != nil {
		_ = e.tlsLn.Close()
	}
	if e.access != nil {
		_ = e.access.Flush()
	}
}

// routerMetrics feeds the router's observations into its collectors.
type routerMetrics struct{ m *metrics.Router }

var (
	_ router.Observer     = routerMetrics{}
	_ router.WakeObserver = routerMetrics{}
	_ router.Activity     = (*metrics.Router)(nil)
)

func (r routerMetrics) ObserveRequest(i *router.RequestInfo) {
	r.m.Request(i.Namespace, i.Method, i.Status, i.BytesIn, i.BytesOut, i.Duration)
}

func (r routerMetrics) ObserveWake(ns string, d time.Duration, result string) {
	r.m.Wake(ns, d, result)
}

var _ auth.Observer = (*metrics.Login)(nil)

// signIn gives the router the namespaces' sign-ins with their identity
// providers (clawd auth configure), fed from the store until ctx ends and
// counted on /metrics; the router is not Ready before they are in.
func (e *edge) signIn(ctx context.Context, rtr *router.Router, st auth.Watcher, box auth.Box) {
	svc := auth.New(auth.Options{Box: box, Cookies: cookieBox(box), Observer: e.logins, Logger: e.log.Named("auth")})
	rtr.SetLogin(svc)
	go svc.Run(ctx, st)
}
