package router

import (
	"bytes"
	"html"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/problem"
)

// The router's own pages live under ownPrefix on every namespace host; no
// request there reaches a gateway.
const (
	ownPrefix  = "/__clawd/"
	loginPath  = ownPrefix + "login"
	logoutPath = ownPrefix + "logout"
	// keyCookie carries a browser's API key, set by the login page. It is
	// HttpOnly and SameSite=Strict, and stripped before forwarding.
	keyCookie = "clawd_key"
	// cookieLife bounds the login of a key that never expires.
	cookieLife = 30 * 24 * time.Hour
)

// keyRequired answers a request without a key to a namespace that
// requires one: a browser asking for a page goes to the login page, any
// other client gets a 401 problem.
func keyRequired(ctx *fasthttp.RequestCtx) {
	if (ctx.IsGet() || ctx.IsHead()) && bytes.Contains(ctx.Request.Header.Peek(fasthttp.HeaderAccept), []byte("text/html")) {
		ctx.Response.Header.Set("Cache-Control", "no-store")
		seeOther(ctx, loginPath)
		return
	}
	unauthorized(ctx, keyProblem{Problem: problem.Problem{Title: "API key required",
		Detail: "this host requires an API key: send it as X-API-Key or Authorization: Bearer, or log in at " + loginPath + " in a browser"}})
}

// own serves the router's pages: a form that takes one of the host's
// namespace's API keys and keeps it in a cookie, so a browser reaches the
// Control UI of a namespace that requires a key; and a logout.
func (r *Router) own(ctx *fasthttp.RequestCtx, t *table, host []byte) {
	rt := t.byHost[string(host)]
	if rt == nil {
		writeProblem(ctx, fasthttp.StatusNotFound, problemf("", "no namespace serves host %q", host))
		return
	}
	secure := ctx.IsTLS()
	switch path := string(ctx.Path()); {
	case path == logoutPath && (ctx.IsGet() || ctx.IsPost()):
		c := fasthttp.AcquireCookie()
		defer fasthttp.ReleaseCookie(c)
		c.SetKey(keyCookie)
		c.SetPath("/")
		c.SetExpire(fasthttp.CookieExpireDelete)
		c.SetHTTPOnly(true)
		c.SetSecure(secure)
		c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
		ctx.Response.Header.SetCookie(c)
		if r.login != nil {
			ctx.Response.Header.Add("Set-Cookie", r.login.ClearSession(secure).String())
		}
		seeOther(ctx, loginPath)
	case path == loginPath && (ctx.IsGet() || ctx.IsHead()):
		loginPage(ctx, fasthttp.StatusOK, "", r.login != nil && r.login.Usable(rt.namespace))
	case path == loginPath && ctx.IsPost():
		secret := string(bytes.TrimSpace(ctx.PostArgs().Peek("key")))
		now := r.auth.now()
		e, bad := r.auth.lookup(secret, now)
		switch {
		case bad != nil:
			r.audit(ctx, rt.namespace, bad.KeyID, AuthLoginFailed, bad.Detail)
			loginPage(ctx, fasthttp.StatusUnauthorized, bad.Detail, false)
			return
		case e.namespace != rt.namespace:
			r.audit(ctx, rt.namespace, e.id, AuthLoginFailed, "a key of another namespace")
			// As for a key on another namespace's host: name neither.
			loginPage(ctx, fasthttp.StatusForbidden, "that API key is not valid for this host", false)
			return
		}
		r.audit(ctx, rt.namespace, e.id, AuthLogin, "")
		expire := now.Add(cookieLife)
		if !e.expiresAt.IsZero() && e.expiresAt.Before(expire) {
			expire = e.expiresAt
		}
		c := fasthttp.AcquireCookie()
		defer fasthttp.ReleaseCookie(c)
		c.SetKey(keyCookie)
		c.SetValue(secret)
		c.SetPath("/")
		c.SetExpire(expire)
		c.SetHTTPOnly(true)
		c.SetSecure(secure)
		c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
		ctx.Response.Header.SetCookie(c)
		ctx.Response.Header.Set("Cache-Control", "no-store")
		seeOther(ctx, "/")
	case path == loginPath || path == logoutPath:
		ctx.Response.Header.Set("Allow", "GET, HEAD, POST")
		writeProblem(ctx, fasthttp.StatusMethodNotAllowed, problemf("", "%s takes GET or POST", path))
	default:
		writeProblem(ctx, fasthttp.StatusNotFound, problemf("", "%s is reserved for the router; the gateway does not see it", path))
	}
}

// seeOther redirects to a path on the same host and scheme.
func seeOther(ctx *fasthttp.RequestCtx, path string) {
	ctx.Response.Header.Set("Location", path)
	ctx.SetStatusCode(fasthttp.StatusSeeOther)
}

// loginPage writes the login form, with msg above it when set, and a link
// to the namespace's sign-in when it has one.
func loginPage(ctx *fasthttp.RequestCtx, status int, msg string, signin bool) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	var note string
	if msg != "" {
		note = `<p role="alert" style="color:#b00">` + html.EscapeString(msg) + `</p>`
	}
	if signin {
		note += `<p><a href="` + startPath + `">Sign in with your organization's account</a>, or use an API key:</p>`
	}
	ctx.SetBodyString(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Sign in</title></head>
<body style="font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem">
<h1 style="font-size:1.3rem">This gateway requires an API key</h1>` + note + `
<form method="post" action="` + loginPath + `">
<label>API key <input name="key" type="password" autocomplete="current-password" required style="width:100%;margin:.5rem 0"></label>
<button type="submit">Sign in</button>
</form>
<p style="color:#555;font-size:.9rem">Your operator creates keys with <code>clawd apikey create</code>. The key is kept in a cookie for this site only; <a href="` + logoutPath + `">sign out</a> removes it.</p>
</body></html>
`)
}
