package router

import (
	"bytes"
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/auth"
	"github.com/clawd-dev/clawd/problem"
)

// Login is a namespace's sign-in with its own identity provider (package
// auth). With a login configured, nothing of the namespace is served
// without a session or one of its API keys: it shares the gate of
// auth.requireKey.
type Login interface {
	Ready() <-chan struct{}
	Configured(ns string) bool
	Usable(ns string) bool
	IsCallback(ns, host, path string) bool
	Callback(ns string) (host, origin string)
	Session(ns, cookie string) (user string, err error)
	Begin(ctx context.Context, ns, returnTo string, secure bool) (location string, flow *http.Cookie, err error)
	Finish(ctx context.Context, ns string, query url.Values, flowCookie string, secure bool) (user string, cookies []*http.Cookie, returnTo string, err error)
	ClearSession(secure bool) *http.Cookie
}

var _ Login = (*auth.Service)(nil)

// startPath begins a sign-in; ?rd= is where the browser goes after.
const startPath = ownPrefix + "signin"

// loginTimeout bounds one provider round trip made for a request.
const loginTimeout = 15 * time.Second

// SetLogin gives the router the namespaces' sign-ins; call it before Run.
// The router is not Ready before the logins are in.
func (r *Router) SetLogin(l Login) { r.login = l }

func (r *Router) loginReady() <-chan struct{} {
	if r.login == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return r.login.Ready()
}

// gated reports whether a request without a key needs a credential.
func (r *Router) gated(rt *route) bool {
	return rt.requireKey || (r.login != nil && r.login.Configured(rt.namespace))
}

// signedIn lets a request without a key through on a valid session of the
// route's namespace; otherwise it answers: a browser asking for a page
// goes to the provider (or the key page when the namespace has no usable
// sign-in), any other client gets a 401.
func (r *Router) signedIn(ctx *fasthttp.RequestCtx, x *exchange, rt *route) bool {
	if r.login == nil || !r.login.Configured(rt.namespace) {
		keyRequired(ctx)
		return false
	}
	var why string
	if c := ctx.Request.Header.Cookie(auth.SessionCookie); len(c) > 0 {
		user, err := r.login.Session(rt.namespace, string(c))
		if err == nil {
			x.user = user
			if x.info != nil {
				x.info.User = user
			}
			return true
		}
		why = err.Error()
		ctx.Response.Header.Add("Set-Cookie", r.login.ClearSession(ctx.IsTLS()).String())
	}
	if !r.login.Usable(rt.namespace) || !r.ownsCallback(rt.namespace) {
		keyRequired(ctx)
		return false
	}
	if (ctx.IsGet() || ctx.IsHead()) && bytes.Contains(ctx.Request.Header.Peek(fasthttp.HeaderAccept), []byte("text/html")) {
		ctx.Response.Header.Set("Cache-Control", "no-store")
		seeOther(ctx, startPath+"?rd="+url.QueryEscape(string(ctx.RequestURI())))
		return false
	}
	detail := "this host requires a sign-in: open it in a browser (" + startPath + "), or send an API key as X-API-Key or Authorization: Bearer"
	if why != "" {
		detail = why + "; " + detail
	}
	unauthorized(ctx, keyProblem{Problem: problem.Problem{Title: "Sign-in required", Detail: detail}})
	return false
}

// ownsCallback reports whether ns still has its callback's host: without
// it the provider would send browsers back to nothing, or to another
// namespace.
func (r *Router) ownsCallback(ns string) bool {
	host, _ := r.login.Callback(ns)
	owner := r.table.Load().byHost[host]
	return owner != nil && owner.namespace == ns
}

// loginPaths answers the sign-in's own requests on a namespace's host: the
// start and the provider's callback. It returns false for anything else.
func (r *Router) loginPaths(ctx *fasthttp.RequestCtx, t *table, host []byte) bool {
	if r.login == nil {
		return false
	}
	rt := t.byHost[string(host)]
	if rt == nil {
		return false
	}
	path := string(ctx.Path())
	switch {
	case path == startPath:
		if !ctx.IsGet() && !ctx.IsHead() {
			ctx.Response.Header.Set("Allow", "GET, HEAD")
			writeProblem(ctx, fasthttp.StatusMethodNotAllowed, problemf("", "%s takes GET", path))
			return true
		}
		rd := string(ctx.QueryArgs().Peek("rd"))
		if cbHost, origin := r.login.Callback(rt.namespace); cbHost != "" && cbHost != string(host) {
			// The flow cookie must be set on the host the provider
			// returns to; the browser ends up there.
			ctx.Response.Header.Set("Cache-Control", "no-store")
			ctx.Response.Header.Set("Location", origin+startPath+"?rd="+url.QueryEscape(rd))
			ctx.SetStatusCode(fasthttp.StatusFound)
			return true
		}
		cctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
		defer cancel()
		loc, flow, err := r.login.Begin(cctx, rt.namespace, rd, ctx.IsTLS())
		if err != nil {
			loginRefused(ctx, err)
			return true
		}
		ctx.Response.Header.Add("Set-Cookie", flow.String())
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.Response.Header.Set("Location", loc)
		ctx.SetStatusCode(fasthttp.StatusFound)
		return true
	case r.login.IsCallback(rt.namespace, string(host), path):
		if !ctx.IsGet() {
			ctx.Response.Header.Set("Allow", "GET")
			writeProblem(ctx, fasthttp.StatusMethodNotAllowed, problemf("", "the sign-in callback takes GET"))
			return true
		}
		q, _ := url.ParseQuery(string(ctx.QueryArgs().QueryString()))
		cctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
		defer cancel()
		_, cookies, rd, err := r.login.Finish(cctx, rt.namespace, q, string(ctx.Request.Header.Cookie(auth.FlowCookieFor(q.Get("state")))), ctx.IsTLS())
		for _, c := range cookies {
			ctx.Response.Header.Add("Set-Cookie", c.String())
		}
		if err != nil {
			loginRefused(ctx, err)
			return true
		}
		ctx.Response.Header.Set("Cache-Control", "no-store")
		seeOther(ctx, rd)
		return true
	}
	return false
}

// loginRefused writes the page of a sign-in that did not succeed.
func loginRefused(ctx *fasthttp.RequestCtx, err error) {
	status, msg := fasthttp.StatusInternalServerError, "sign-in failed"
	var ref *auth.Refusal
	if errors.As(err, &ref) {
		status, msg = ref.Status, ref.Message
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	ctx.SetBodyString(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Sign-in refused</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">
<h1 style="font-size:1.3rem">Sign-in refused</h1>
<p role="alert" style="color:#b00">` + html.EscapeString(msg) + `</p>
<p><a href="` + startPath + `">Sign in again</a> · <a href="` + loginPath + `">use an API key</a></p>
<p style="color:#555;font-size:.9rem">HTTP ` + strconv.Itoa(status) + `</p>
</body></html>
`)
}

// stripLoginCookies removes the sign-in's cookies from a request bound for
// a gateway: the session is the router's, not the gateway's.
func stripLoginCookies(h *fasthttp.RequestHeader) {
	if len(h.Peek(fasthttp.HeaderCookie)) == 0 {
		return
	}
	var flows []string
	for k := range h.Cookies() {
		if bytes.HasPrefix(k, []byte(auth.FlowCookie)) {
			flows = append(flows, string(k))
		}
	}
	h.DelCookie(auth.SessionCookie)
	for _, k := range flows {
		h.DelCookie(k)
	}
}
