package router

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	// dialTimeout bounds connecting to a gateway; a gateway that does not
	// accept in this long is treated as down (502).
	dialTimeout = 5 * time.Second
	// idleUpstream is how long a pooled connection to a gateway may sit
	// unused. It stays under Node's default keep-alive timeout (5 s), so
	// the router never sends a request on a connection the gateway is
	// closing, which for a POST would be a 502 the client did not earn.
	idleUpstream = 4 * time.Second
	// maxUpstreamConns caps connections to one gateway; more requests
	// queue for a free one.
	maxUpstreamConns = 1024
	// upstreamHeaderBytes is the largest response head a gateway may send.
	upstreamHeaderBytes = 16 << 10
)

// UpstreamLimits bound how long the router waits on a gateway.
type UpstreamLimits struct {
	// ResponseHeaderTimeout is how long a gateway has to send a reply's
	// head once it has the request; then the client gets 504. A body, once
	// the head is in, may take as long as it takes (streams).
	ResponseHeaderTimeout time.Duration
	// WSHandshakeTimeout is how long a gateway has to answer a WebSocket
	// upgrade; then the client gets 504.
	WSHandshakeTimeout time.Duration
}

// Default upstream limits. OpenClaw answers a non-streamed chat completion
// only when the whole agent run is done, so the head may be minutes away.
const (
	DefaultResponseHeaderTimeout = 5 * time.Minute
	DefaultWSHandshakeTimeout    = 30 * time.Second
)

func (l *UpstreamLimits) setDefaults() {
	if l.ResponseHeaderTimeout <= 0 {
		l.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if l.WSHandshakeTimeout <= 0 {
		l.WSHandshakeTimeout = DefaultWSHandshakeTimeout
	}
}

// LimitUpstream sets how long the router waits on gateways; zero fields
// keep their defaults. Call it before Run.
func (r *Router) LimitUpstream(l UpstreamLimits) {
	l.setDefaults()
	r.ups.mu.Lock()
	r.ups.limits = l
	r.ups.mu.Unlock()
}

// errNoHead is a gateway that did not send a reply's head in time.
var errNoHead = errors.New("the gateway sent no response head in time")

// isTimeout reports an upstream deadline passing.
func isTimeout(err error) bool {
	var nerr net.Error
	return errors.Is(err, errNoHead) || errors.Is(err, fasthttp.ErrTimeout) || (errors.As(err, &nerr) && nerr.Timeout())
}

// upstream is the keep-alive pool to one gateway address.
type upstream struct {
	addr string
	hc   *fasthttp.HostClient
	// dial opens a connection of its own (a WebSocket's).
	dial func() (net.Conn, error)
}

func newUpstream(addr string, l UpstreamLimits) *upstream {
	return &upstream{addr: addr, dial: func() (net.Conn, error) { return net.DialTimeout("tcp", addr, dialTimeout) }, hc: &fasthttp.HostClient{
		Addr:                addr,
		MaxConns:            maxUpstreamConns,
		MaxIdleConnDuration: idleUpstream,
		MaxConnWaitTimeout:  dialTimeout,
		ReadBufferSize:      upstreamHeaderBytes,
		// fasthttp sets this read deadline once the request is sent; the
		// router clears it once the head is in (see headDone), so it
		// bounds the head only.
		ReadTimeout:              l.ResponseHeaderTimeout,
		DialTimeout:              dialUpstream,
		NoDefaultUserAgentHeader: true,
		// The gateway gets the path as the client sent it.
		DisablePathNormalizing: true,
		// Replies are streamed: SSE and chunked bodies reach the client as
		// the gateway writes them, and big bodies are never held whole.
		StreamResponseBody: true,
		RetryIfErr:         retryIfErr,
	}}
}

// retryIfErr retries a request whose pooled connection failed (the gateway
// closed it, say) only if it is safe to send again and can be: a GET, HEAD
// or OPTIONS without a body. fasthttp would also retry a PUT, whose
// streamed body is gone once sent.
// A gateway that let the head deadline pass is not asked again: the client
// would wait twice as long for the same silence.
func retryIfErr(req *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	h := &req.Header
	return false, !isTimeout(err) && !hasBody(h) && (h.IsGet() || h.IsHead() || h.IsOptions())
}

func dialUpstream(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, min(timeout, dialTimeout))
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	uc := &upConn{TCPConn: tc}
	uc.local = connAddr{Addr: tc.LocalAddr(), c: uc}
	return uc, nil
}

// upConn is a pooled connection to a gateway. fasthttp does not hand the
// connection of a reply to its caller, but it does keep the connection's
// LocalAddr on the reply: that address leads back here, so the router can
// lift the head deadline once the head is in. Embedding *net.TCPConn keeps
// ReadFrom and WriteTo (splice) for bodies.
type upConn struct {
	*net.TCPConn
	local connAddr
}

func (c *upConn) LocalAddr() net.Addr { return &c.local }

type connAddr struct {
	net.Addr
	c interface{ SetReadDeadline(time.Time) error }
}

// headDone lifts the head deadline from the connection resp came on, so
// its body streams for as long as the gateway sends it. Only a reply with
// a body stream still holds its connection: one without went back to the
// pool, and may already carry another request's deadline.
func headDone(resp *fasthttp.Response) {
	if resp.BodyStream() == nil {
		return
	}
	if a, ok := resp.LocalAddr().(*connAddr); ok {
		_ = a.c.SetReadDeadline(time.Time{})
	}
}

// upstreams shares one pool per gateway address between table rebuilds
// and wakes, so a table change never drops warm connections.
type upstreams struct {
	mu     sync.Mutex
	m      map[string]*upstream
	limits UpstreamLimits
}

func (u *upstreams) init() {
	u.m = map[string]*upstream{}
	u.limits.setDefaults()
}

// wsHandshake is how long a gateway has to answer an upgrade.
func (u *upstreams) wsHandshake() time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.limits.WSHandshakeTimeout
}

// get returns the pool for addr, creating it on first use.
func (u *upstreams) get(addr string) *upstream {
	u.mu.Lock()
	defer u.mu.Unlock()
	up := u.m[addr]
	if up == nil {
		up = newUpstream(addr, u.limits)
		u.m[addr] = up
	}
	return up
}

// retain forgets the pools of addresses no route names any more and
// closes their idle connections. A request still using one finishes
// normally; its connection is closed when idle.
func (u *upstreams) retain(keep map[string]bool) {
	u.mu.Lock()
	var gone []*upstream
	for addr, up := range u.m {
		if !keep[addr] {
			delete(u.m, addr)
			gone = append(gone, up)
		}
	}
	u.mu.Unlock()
	for _, up := range gone {
		up.hc.CloseIdleConnections()
	}
}
