package router

import (
	"context"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// The router's own cost per forwarded request, against an in-process
// fasthttp gateway over loopback: go test -bench Forward -benchmem ./router
// (the gateway and the client are in the figures too; compare runs, not
// absolute numbers). make bench-router measures the real thing.
func BenchmarkForward(b *testing.B) {
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gw := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"ok":true}`) }}
	go func() { _ = gw.Serve(gln) }()
	b.Cleanup(func() { _ = gw.Shutdown() })

	w := &hostWatcher{ns: make(chan store.Event, 1)}
	w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{
		nsAt("gw", namespace.PhaseRunning, gln.Addr().String(), "gw.example"),
	}}
	r := New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go r.Run(ctx, w)
	<-r.Ready()
	url := serveRouter(b, r, Limits{})

	c := &fasthttp.HostClient{Addr: url[len("http://"):], MaxConns: 64}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://gw.example/healthz")
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("%v %d", err, resp.StatusCode())
			}
		}
	})
}
