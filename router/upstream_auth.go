package router

import (
	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/openclawcfg"
)

// identify tells the gateway who the router let in, for OpenClaw's
// trusted-proxy auth (see package openclawcfg): openclawcfg.UserHeader
// carries the API key's id, "oidc:<email or subject>" for a signed-in
// session (see oidc.go), or "host:<hostname>" for a request routed by
// its namespace's hostname, and whatever a client put there is dropped.
// X-Forwarded-For, set by prepareRequest, must name a client the gateway
// can attribute: a client on this host (loopback) is named by the host's
// address instead, or the gateway refuses the request. Called on every
// request forwarded, WebSocket upgrades included.
func identify(ctx *fasthttp.RequestCtx, x *exchange) {
	h := &ctx.Request.Header
	h.Del(openclawcfg.UserHeader)
	stripLoginCookies(h)
	switch {
	case x.keyID != "":
		h.Set(openclawcfg.UserHeader, x.keyID)
	case x.user != "":
		h.Set(openclawcfg.UserHeader, x.user)
	default:
		h.Set(openclawcfg.UserHeader, "host:"+string(routeHost(ctx.URI().Host())))
	}
	if ip := ctx.RemoteIP(); ip.IsLoopback() || ip.IsUnspecified() {
		h.Set("X-Forwarded-For", openclawcfg.HostAddress())
	}
}
