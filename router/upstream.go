package router

import (
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

// upstream is the keep-alive pool to one gateway address.
type upstream struct {
	addr string
	hc   *fasthttp.HostClient
}

func newUpstream(addr string) *upstream {
	return &upstream{addr: addr, hc: &fasthttp.HostClient{
		Addr:                     addr,
		MaxConns:                 maxUpstreamConns,
		MaxIdleConnDuration:      idleUpstream,
		MaxConnWaitTimeout:       dialTimeout,
		ReadBufferSize:           upstreamHeaderBytes,
		DialTimeout:              dialUpstream,
		NoDefaultUserAgentHeader: true,
		// The gateway gets the path as the client sent it.
		DisablePathNormalizing: true,
		// Replies are streamed: SSE and chunked bodies reach the client as
		// the gateway writes them, and big bodies are never held whole.
		StreamResponseBody: true,
		// No read timeout: a gateway may stream for as long as the client
		// listens.
		RetryIfErr: retryIfErr,
	}}
}

// retryIfErr retries a request whose pooled connection failed (the gateway
// closed it, say) only if it is safe to send again and can be: a GET, HEAD
// or OPTIONS without a body. fasthttp would also retry a PUT, whose
// streamed body is gone once sent.
func retryIfErr(req *fasthttp.Request, _ int, _ error) (resetTimeout, retry bool) {
	h := &req.Header
	return false, !hasBody(h) && (h.IsGet() || h.IsHead() || h.IsOptions())
}

func dialUpstream(addr string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, min(timeout, dialTimeout))
}

// upstreams shares one pool per gateway address between table rebuilds
// and wakes, so a table change never drops warm connections.
type upstreams struct {
	mu sync.Mutex
	m  map[string]*upstream
}

func (u *upstreams) init() { u.m = map[string]*upstream{} }

// get returns the pool for addr, creating it on first use.
func (u *upstreams) get(addr string) *upstream {
	u.mu.Lock()
	defer u.mu.Unlock()
	up := u.m[addr]
	if up == nil {
		up = newUpstream(addr)
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
