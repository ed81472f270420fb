package router

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/problem"
)

// problemf is a problem with a detail line, naming ns when it is set.
func problemf(ns, format string, args ...any) problem.Problem {
	return problem.Problem{Namespace: ns, Detail: fmt.Sprintf(format, args...)}
}

// writeProblem answers with an RFC 9457 problem, the router's one error
// shape (the same as package problem writes for net/http). p is a
// problem.Problem or a type embedding one; its Status and an empty Title
// are filled in.
func writeProblem(ctx *fasthttp.RequestCtx, status int, p any) {
	switch v := p.(type) {
	case problem.Problem:
		v.Status = status
		if v.Title == "" {
			v.Title = fasthttp.StatusMessage(status)
		}
		p = v
	case quotaProblem:
		v.Status = status
		p = v
	case keyProblem:
		v.Status = status
		if v.Title == "" {
			v.Title = fasthttp.StatusMessage(status)
		}
		p = v
	}
	ctx.Response.ResetBody()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("application/problem+json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	_ = json.NewEncoder(ctx).Encode(p)
}

// retryAfter sets Retry-After in whole seconds (at least 1).
func retryAfter(ctx *fasthttp.RequestCtx, d time.Duration) {
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))))
}
