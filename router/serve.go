package router

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/valyala/fasthttp"
)

// Limits bound what one client may cost the router.
type Limits struct {
	// ReadHeaderTimeout is how long a client has to send a request's
	// head, counted from the connection (or, on a keep-alive connection,
	// the request's first byte); a slow sender is cut off (slowloris).
	ReadHeaderTimeout time.Duration
	// BodyTimeout is how long a request body may take to arrive.
	BodyTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends nothing.
	IdleTimeout time.Duration
	// MaxHeaderBytes is the largest request head; a bigger one gets 431.
	// Each connection holds a read buffer of this size.
	MaxHeaderBytes int
	// MaxBodyBytes is the largest request body; a bigger one gets 413.
	MaxBodyBytes int
}

// Default limits.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout       = 5 * time.Minute
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxBodyBytes      = 64 << 20
)

func (l *Limits) setDefaults() {
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// Server returns an HTTP server for the router. One server may serve
// several listeners (plain and TLS), one Serve call each; ShutdownWithContext
// drains them all.
func (r *Router) Server(l Limits) *fasthttp.Server {
	l.setDefaults()
	return &fasthttp.Server{
		Handler: r.Handle,
		// A request head must fit the read buffer: that is the 431 limit.
		ReadBufferSize:  l.MaxHeaderBytes,
		WriteBufferSize: 16 << 10,
		ReadTimeout:     l.ReadHeaderTimeout,
		IdleTimeout:     l.IdleTimeout,
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			// The head is in; a body, if any, gets its own time.
			if hasBody(h) {
				return fasthttp.RequestConfig{ReadTimeout: l.BodyTimeout}
			}
			return fasthttp.RequestConfig{}
		},
		MaxRequestBodySize: l.MaxBodyBytes,
		// Bodies are passed on as they arrive, never held whole.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		SecureErrorLogMessage:        true,
		ErrorHandler:                 r.badRequest,
		Logger:                       fastLogger{r.log.Named("http")},
	}
}

// Handle serves one request: route it by key or Host, hold it while its
// namespace wakes, forward it. It is the Server's handler; tests and
// wrappers (ACME challenges) may call it directly.
func (r *Router) Handle(ctx *fasthttp.RequestCtx) {
	x := r.begin(ctx)
	if !r.serve(ctx, x) {
		x.finish(ctx.Response.StatusCode(), int64(len(ctx.Response.Body())))
	}
}

// serve does the work of Handle. It returns true when the exchange goes on
// after the handler (a streamed body, a WebSocket) and will end itself.
func (r *Router) serve(ctx *fasthttp.RequestCtx, x *exchange) bool {
	h := &ctx.Request.Header
	if h.IsConnect() || h.IsTrace() {
		writeProblem(ctx, fasthttp.StatusMethodNotAllowed, problemf("", "the router does not forward %s requests", h.Method()))
		return false
	}
	host := routeHost(ctx.URI().Host())
	t := r.table.Load()
	if r.loginPaths(ctx, t, host) {
		return false
	}
	if bytes.HasPrefix(ctx.Path(), []byte(ownPrefix)) {
		r.own(ctx, t, host)
		return false
	}
	rt, ok := r.authenticate(ctx, x, t, host, t.byHost[string(host)])
	if !ok {
		return false
	}
	if rt == nil {
		p := problemf("", "no namespace serves host %q", host)
		p.Title = "Unknown host"
		writeProblem(ctx, fasthttp.StatusNotFound, p)
		return false
	}
	if rt.peerNode != "" {
		if r.peers.Known(rt.peerNode) {
			return r.forwardPeer(ctx, x, rt)
		}
		rt = rt.direct
	}
	return r.serveRoute(ctx, x, rt)
}

// serveRoute serves a request routed to a namespace of this node: the
// quota, a hold while it wakes, the gateway.
func (r *Router) serveRoute(ctx *fasthttp.RequestCtx, x *exchange, rt *route) bool {
	h := &ctx.Request.Header
	// A WebSocket's requests are its frames (see relay), not its upgrade.
	// Refused before a wake, and before it counts as activity: requests
	// over quota neither wake a gateway nor keep it awake.
	upgrade := isUpgrade(h)
	if !upgrade && r.counting() {
		if ref := r.admit(rt.namespace, rt.requestsPerHour, x.started()); ref != nil {
			x.named(rt.namespace)
			r.audit(ctx, rt.namespace, "", AuthOverQuota, ref.Error())
			overQuota(ctx, x, rt.namespace, ref)
			return false
		}
	}
	x.routed(rt.namespace) // counts the request before the gate is asked
	if rt.suspended != "" {
		p := problemf(rt.namespace, "%s", rt.suspended)
		p.Title = "Payment required"
		writeProblem(ctx, fasthttp.StatusPaymentRequired, p)
		return false
	}
	if !rt.running() || (r.gate != nil && r.gate.Closed(rt.namespace)) {
		if rt = r.hold(ctx, x, rt); rt == nil {
			return false
		}
	}
	if upgrade {
		return r.tunnel(ctx, x, rt)
	}
	return r.forward(ctx, x, rt)
}

// maxBuffered is the largest reply body read whole before it is sent: the
// gateway connection goes back to the pool at once instead of waiting on
// the client. Bigger bodies, and those of unknown length (SSE, chunked),
// are streamed.
const maxBuffered = 16 << 10

var smallBodies = sync.Pool{New: func() any { b := make([]byte, maxBuffered+1); return &b }}

// forward sends the request to the route's gateway and its reply back.
func (r *Router) forward(ctx *fasthttp.RequestCtx, x *exchange, rt *route) bool {
	r.prepare(ctx, x, rt, false)
	resp := fasthttp.AcquireResponse()
	resp.Header.SetNoDefaultContentType(true)
	if err := rt.up.hc.Do(&ctx.Request, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		r.unreachable(ctx, x, rt, err)
		return false
	}
	headDone(resp)
	out := &ctx.Response
	resp.Header.CopyTo(&out.Header)
	out.Header.SetNoDefaultContentType(true)
	out.Header.ResetConnectionClose()
	stripHopResponse(&out.Header)
	x.peerReply(&out.Header, rt)
	x.setRateHeaders(&out.Header)

	body := resp.BodyStream()
	if body == nil { // HEAD, 204, 304
		fasthttp.ReleaseResponse(resp)
		return false
	}
	if n := resp.Header.ContentLength(); n >= 0 && n <= maxBuffered {
		bp := smallBodies.Get().(*[]byte)
		m, err := readFull(body, *bp)
		if err == nil {
			out.SetBody((*bp)[:m])
		}
		smallBodies.Put(bp)
		// Closing the fully read stream returns the connection to the pool.
		fasthttp.ReleaseResponse(resp)
		if err != nil {
			r.unreachable(ctx, x, rt, fmt.Errorf("reading the reply body: %w", err))
		}
		return false
	}
	out.SetBodyStream(&streamBody{resp: resp, body: body, x: x, status: out.StatusCode()}, resp.Header.ContentLength())
	return true
}

// readFull reads r to its end into b, which must be bigger than the body.
func readFull(r io.Reader, b []byte) (int, error) {
	n := 0
	for {
		if n == len(b) {
			return n, errors.New("reply body longer than its Content-Length")
		}
		m, err := r.Read(b[n:])
		n += m
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// streamBody passes a gateway's reply to the client as it arrives (each
// read is flushed for a body of unknown length) and ends the exchange once
// the server has written it all or given up.
type streamBody struct {
	resp   *fasthttp.Response
	body   io.Reader
	x      *exchange
	status int
	n      int64
}

var _ fasthttp.ReadCloserWithError = (*streamBody)(nil)

func (s *streamBody) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	s.n += int64(n)
	return n, err
}

// CloseWithError is called once by the server when it is done with the
// body. An unfinished body closes the gateway connection rather than
// returning it to the pool.
func (s *streamBody) CloseWithError(err error) error {
	if c, ok := s.body.(fasthttp.ReadCloserWithError); ok {
		_ = c.CloseWithError(err)
	}
	fasthttp.ReleaseResponse(s.resp)
	s.x.finish(s.status, s.n)
	return nil
}

// unreachable answers 502 when the gateway did not answer the request, 504
// when it let a deadline pass.
func (r *Router) unreachable(ctx *fasthttp.RequestCtx, x *exchange, rt *route, err error) {
	ctx.Response.Reset()
	x.setRateHeaders(&ctx.Response.Header)
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		writeProblem(ctx, fasthttp.StatusRequestEntityTooLarge, problemf("", "the request body is too large"))
		return
	}
	if isTimeout(err) {
		r.log.Warn("gateway did not answer in time", "namespace", rt.namespace, "address", rt.address, "error", err)
		writeProblem(ctx, fasthttp.StatusGatewayTimeout, problemf(rt.namespace, "the gateway of namespace %s did not answer in time", rt.namespace))
		return
	}
	r.log.Warn("gateway unreachable", "namespace", rt.namespace, "address", rt.address, "error", err)
	retryAfter(ctx, 2*time.Second)
	writeProblem(ctx, fasthttp.StatusBadGateway, problemf(rt.namespace, "the gateway of namespace %s did not answer; retry shortly", rt.namespace))
}

// badRequest answers requests the server could not read.
func (r *Router) badRequest(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var nerr net.Error
	switch {
	case errors.As(err, &small):
		writeProblem(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, problemf("", "the request head is too large"))
		lingerClose(ctx)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeProblem(ctx, fasthttp.StatusRequestEntityTooLarge, problemf("", "the request body is too large"))
	case errors.As(err, &nerr) && nerr.Timeout():
		writeProblem(ctx, fasthttp.StatusRequestTimeout, problemf("", "the request did not arrive in time"))
	default:
		writeProblem(ctx, fasthttp.StatusBadRequest, problemf("", "the request could not be read"))
	}
}

// prepareRequest makes the client's request the gateway's: no clawd key,
// no hop-by-hop fields, and the X-Forwarded-* fields of this hop only
// (what a client claims is not passed on: the router is the front door).
func prepareRequest(ctx *fasthttp.RequestCtx, upgrade bool) {
	h := &ctx.Request.Header
	stripKeys(h)
	stripHopRequest(h, upgrade)
	h.Del("Forwarded")
	var buf [48]byte
	h.SetBytesV("X-Forwarded-For", appendIP(buf[:0], ctx.RemoteAddr()))
	h.SetBytesV("X-Forwarded-Host", ctx.URI().Host())
	if ctx.IsTLS() {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
	// The Host the gateway sees is the one the request was routed by.
	ctx.Request.UseHostHeader = false
	// Gateways speak plain HTTP, whatever the client used (TLS to the
	// router, or an https:// target).
	if u := ctx.Request.URI(); string(u.Scheme()) != "http" {
		u.SetScheme("http")
	}
}

func appendIP(b []byte, a net.Addr) []byte {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap().AppendTo(b)
		}
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return append(b, a.String()...)
	}
	return append(b, host...)
}

// hopHeaders are the fields that describe one connection, not the message
// (RFC 9110 §7.6.1), besides those the Connection field names.
var hopHeaders = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// hopMask says which hop-by-hop fields a header has, in one pass: most
// requests have none, and deleting absent fields costs a scan each.
func hopMask(all func(yield func(k, v []byte) bool)) (mask uint16) {
	for k := range all {
		for i, hop := range hopHeaders {
			if len(k) == len(hop) && strings.EqualFold(string(k), hop) {
				mask |= 1 << i
			}
		}
	}
	return mask
}

type hopDeleter interface {
	Peek(key string) []byte
	Del(key string)
}

// stripHop deletes the hop-by-hop fields in mask and those the Connection
// field names; keep is a field to leave (Upgrade, on an upgrade).
func stripHop(h hopDeleter, mask uint16, keep string) {
	if mask&1 != 0 {
		var names []string
		for tok := range strings.SplitSeq(string(h.Peek("Connection")), ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, "close") && !strings.EqualFold(tok, "keep-alive") && !strings.EqualFold(tok, keep) {
				names = append(names, tok)
			}
		}
		for _, n := range names {
			h.Del(n)
		}
	}
	for i, hop := range hopHeaders {
		if mask&(1<<i) != 0 && hop != keep {
			h.Del(hop)
		}
	}
}

func stripHopRequest(h *fasthttp.RequestHeader, upgrade bool) {
	// The client's own connection closes or not as it asked; the one to
	// the gateway stays pooled.
	h.ResetConnectionClose()
	mask := hopMask(h.All())
	if mask == 0 {
		return
	}
	keep := ""
	if upgrade {
		keep = "Upgrade"
	}
	stripHop(h, mask, keep)
	if upgrade {
		h.Set("Connection", "Upgrade")
	}
}

func stripHopResponse(h *fasthttp.ResponseHeader) {
	if mask := hopMask(h.All()); mask != 0 {
		stripHop(h, mask, "")
	}
}

// hasBody reports whether a request has a body: a Content-Length above
// zero or a chunked one (-1). Neither field (-2 to fasthttp) means none.
func hasBody(h *fasthttp.RequestHeader) bool {
	n := h.ContentLength()
	return n > 0 || n == -1
}

// isUpgrade reports a request to switch protocols (WebSocket).
func isUpgrade(h *fasthttp.RequestHeader) bool {
	return len(h.Peek("Upgrade")) > 0 && h.ConnectionUpgrade()
}

// fastLogger sends fasthttp's own messages (broken connections, mostly)
// to the debug log.
type fastLogger struct{ log hclog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	if l.log.IsDebug() {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}
