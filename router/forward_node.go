package router

import (
	"crypto/tls"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Requests of a namespace placed on another node are forwarded to that
// node's peer listener (mutual TLS, certificates of the cluster's own CA:
// see package peer), which serves them as its own: the quota, the hold
// while the gateway wakes, the gateway. This node routes and
// authenticates; the peer trusts what it is told in the headers below,
// and only from a connection its listener has verified.
const (
	peerNamespace = "X-Clawd-Peer-Namespace"
	peerKeyID     = "X-Clawd-Peer-Key"
	peerUser      = "X-Clawd-Peer-User"
	peerClient    = "X-Clawd-Peer-Client"
	peerProto     = "X-Clawd-Peer-Proto"
	// peerWaited, on a reply, is how long the serving node held the
	// request while the namespace woke, in µs, for the access log here.
	peerWaited = "X-Clawd-Peer-Waited"
)

// PeerDialer opens TLS connections to other nodes' peer listeners.
type PeerDialer interface {
	Dial(node string, timeout time.Duration) (net.Conn, error)
	// Known reports that the node has a peer listener; without one its
	// namespaces are reached at their gateways' addresses, as on one host.
	Known(node string) bool
}

// SetPeers makes the router forward the requests of namespaces placed on
// other nodes through peers; node is this node's name. Call it before Run.
func (r *Router) SetPeers(node string, peers PeerDialer) {
	r.node, r.peers = node, peers
}

func peerKey(node string) string { return "peer:" + node }

// peerWait is how much longer a peer may take than a gateway: it may hold
// the request while it wakes the namespace.
func (r *Router) peerWait(rt *route) time.Duration {
	if rt.peerNode == "" {
		return 0
	}
	return r.wakeTimeout
}

// peer returns the pool to a node's peer listener.
func (u *upstreams) peer(node string, d PeerDialer) *upstream {
	key := peerKey(node)
	u.mu.Lock()
	defer u.mu.Unlock()
	if up := u.m[key]; up != nil {
		return up
	}
	dial := func() (net.Conn, error) { return d.Dial(node, dialTimeout) }
	l := u.limits
	l.ResponseHeaderTimeout += DefaultWakeHold
	up := newUpstream(key, l)
	up.dial = dial
	up.hc.Dial = func(string) (net.Conn, error) {
		c, err := dial()
		if err != nil {
			return nil, err
		}
		pc := &peerConn{Conn: c}
		pc.local = connAddr{Addr: c.LocalAddr(), c: pc}
		return pc, nil
	}
	up.hc.DialTimeout = nil
	u.m[key] = up
	return up
}

// DefaultWakeHold is how much longer than a gateway a peer may take to
// send a reply's head: it may be waking the namespace first.
const DefaultWakeHold = 2 * time.Minute

// peerConn is a pooled TLS connection to a peer; like upConn, its
// LocalAddr leads back to it so headDone can lift the head deadline.
type peerConn struct {
	net.Conn
	local connAddr
}

func (c *peerConn) LocalAddr() net.Addr { return &c.local }

// prepare readies the request for its upstream: a gateway, or a peer.
func (r *Router) prepare(ctx *fasthttp.RequestCtx, x *exchange, rt *route, upgrade bool) {
	if rt.peerNode == "" {
		prepareRequest(ctx, upgrade)
		identify(ctx, x)
		return
	}
	h := &ctx.Request.Header
	stripHopRequest(h, upgrade)
	h.Set(peerNamespace, rt.namespace)
	h.Set(peerKeyID, x.keyID)
	h.Set(peerUser, x.user)
	var buf [48]byte
	h.SetBytesV(peerClient, appendIP(buf[:0], ctx.RemoteAddr()))
	if ctx.IsTLS() {
		h.Set(peerProto, "https")
	} else {
		h.Set(peerProto, "http")
	}
	ctx.Request.UseHostHeader = false
	if u := ctx.Request.URI(); string(u.Scheme()) != "http" {
		u.SetScheme("http")
	}
}

// forwardPeer sends a request to the node its namespace is placed on.
func (r *Router) forwardPeer(ctx *fasthttp.RequestCtx, x *exchange, rt *route) bool {
	x.named(rt.namespace)
	if x.info != nil {
		x.info.Peer = rt.peerNode
	}
	if isUpgrade(&ctx.Request.Header) {
		return r.tunnel(ctx, x, rt)
	}
	return r.forward(ctx, x, rt)
}

// PeerServer returns the server for the peer listener (whose TLS config
// must require a client certificate of the cluster's CA).
func (r *Router) PeerServer(l Limits) *fasthttp.Server {
	s := r.Server(l)
	s.Handler = r.HandlePeer
	return s
}

// HandlePeer serves a request another node's router forwarded. The
// forwarding node has logged and counted it in its metrics; here only the
// PeerServedObservers (the audit) hear of it, and the quota, the hold
// while the gateway wakes and the metering are this node's, as for a
// request of its own.
func (r *Router) HandlePeer(ctx *fasthttp.RequestCtx) {
	x := r.beginFor(ctx, r.obs.peer)
	if !r.servePeer(ctx, x) {
		x.finish(ctx.Response.StatusCode(), int64(len(ctx.Response.Body())))
	}
}

func (r *Router) servePeer(ctx *fasthttp.RequestCtx, x *exchange) bool {
	if cs, ok := ctx.Conn().(interface{ ConnectionState() tls.ConnectionState }); !ok || len(cs.ConnectionState().PeerCertificates) == 0 {
		writeProblem(ctx, fasthttp.StatusForbidden, problemf("", "the peer listener serves only other nodes of the cluster"))
		return false
	}
	x.forPeer = true
	h := &ctx.Request.Header
	ns := string(h.Peek(peerNamespace))
	x.keyID, x.user = string(h.Peek(peerKeyID)), string(h.Peek(peerUser))
	if ip := net.ParseIP(string(h.Peek(peerClient))); ip != nil {
		ctx.SetRemoteAddr(&net.TCPAddr{IP: ip})
	}
	if i := x.info; i != nil {
		// Who asked, as the forwarding node authenticated them.
		i.KeyID, i.User = x.keyID, x.user
	}
	for _, k := range []string{peerNamespace, peerKeyID, peerUser, peerClient, peerProto} {
		h.Del(k)
	}
	rt := r.table.Load().byName[ns]
	if rt == nil || rt.peerNode != "" {
		// Moved meanwhile: never forwarded a second time (no loops).
		retryAfter(ctx, time.Second)
		writeProblem(ctx, fasthttp.StatusMisdirectedRequest, problemf(ns, "namespace %s is not served by this node; retry", ns))
		return false
	}
	return r.serveRoute(ctx, x, rt)
}

// peerReply carries the wake wait across the hop: the serving node puts it
// on the reply, the forwarding node takes it off into its log line.
func (x *exchange) peerReply(h *fasthttp.ResponseHeader, rt *route) {
	switch {
	case x.forPeer:
		h.Del(peerWaited)
		if x.waited > 0 {
			var buf [20]byte
			h.SetBytesV(peerWaited, strconv.AppendInt(buf[:0], x.waited.Microseconds(), 10))
		}
	case rt.peerNode != "":
		if v := h.Peek(peerWaited); len(v) > 0 {
			if us, err := strconv.ParseInt(string(v), 10, 64); err == nil && x.info != nil {
				x.info.WakeWaited = time.Duration(us) * time.Microsecond
			}
			h.Del(peerWaited)
		}
	}
}
