package router

import (
	"io"
	"testing"

	"github.com/valyala/fasthttp"
)

// The per-request cost of observation alone (exchange, access log line into
// a discarding writer), without forwarding: go test -bench Observe ./router
func BenchmarkObserveRequest(b *testing.B) {
	r := New(nil)
	r.Observe(NewAccessLog(io.Discard))
	var req fasthttp.Request
	req.SetRequestURI("http://alpha.test/v1/models")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetBodyString("ok")
	b.ReportAllocs()
	for b.Loop() {
		x := r.begin(&ctx)
		x.routed("alpha")
		x.finish(ctx.Response.StatusCode(), int64(len(ctx.Response.Body())))
	}
}
