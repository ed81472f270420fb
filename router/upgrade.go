package router

import (
	"bufio"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// maxRefusalBody bounds the reply of a gateway that refuses an upgrade.
const maxRefusalBody = 1 << 20

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// tunnel forwards a protocol upgrade (a WebSocket). The request goes to the
// gateway on a connection of its own; if the gateway switches protocols,
// the router takes over the client's connection and splices the two until
// either side closes. The exchange, and the namespace's activity, last as
// long as the tunnel. A gateway that refuses the upgrade is answered like
// any reply.
func (r *Router) tunnel(ctx *fasthttp.RequestCtx, x *exchange, rt *route) bool {
	r.prepare(ctx, x, rt, true)
	req := &ctx.Request
	// A peer's relay counts the frames; this node only passes them on.
	framed := r.counting() && rt.peerNode == ""
	if framed {
		// The relay reads the client's messages: no compression.
		req.Header.Del("Sec-WebSocket-Extensions")
	}
	uri := req.URI()
	uri.DisablePathNormalizing = true // the gateway gets the path as sent
	if len(uri.Host()) == 0 {
		uri.SetHost(rt.address)
	}

	backend, err := rt.up.dial()
	if err != nil {
		r.unreachable(ctx, x, rt, err)
		return false
	}
	// A gateway that accepts and never answers must not pin the client.
	_ = backend.SetDeadline(time.Now().Add(r.ups.wsHandshake() + r.peerWait(rt)))
	bw := bufio.NewWriterSize(backend, 4<<10)
	if err = req.Write(bw); err == nil {
		err = bw.Flush()
	}
	br := bufio.NewReaderSize(backend, upstreamHeaderBytes)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.Header.SetNoDefaultContentType(true)
	if err == nil {
		err = resp.ReadLimitBody(br, maxRefusalBody)
	}
	if err != nil {
		backend.Close()
		r.unreachable(ctx, x, rt, err)
		return false
	}

	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		backend.Close()
		resp.Header.CopyTo(&ctx.Response.Header)
		ctx.Response.Header.SetNoDefaultContentType(true)
		ctx.Response.Header.ResetConnectionClose()
		stripHopResponse(&ctx.Response.Header)
		x.setRateHeaders(&ctx.Response.Header)
		ctx.Response.SetBody(resp.Body())
		return false
	}

	// The tunnel lasts as long as both sides want it.
	_ = backend.SetDeadline(time.Time{})
	x.setRateHeaders(&resp.Header)
	head := append([]byte(nil), resp.Header.Header()...)
	ctx.HijackSetNoResponse(true)
	ns, limit, keyID := rt.namespace, rt.requestsPerHour, x.keyID
	ctx.Hijack(func(client net.Conn) {
		var out int64
		if framed {
			w := &relay{r: r, ns: ns, keyID: keyID, limit: limit, backend: backend, client: rawConn(client)}
			out = w.splice(client, br, head)
		} else {
			out = splice(client, backend, br, head)
		}
		x.finish(fasthttp.StatusSwitchingProtocols, out)
	})
	return true
}

// splice sends the gateway's 101 head to the client, then copies both ways
// until either side ends, and returns the bytes sent to the client.
func splice(client, backend net.Conn, fromBackend *bufio.Reader, head []byte) int64 {
	defer backend.Close()
	// Writes may skip fasthttp's wrapper (so Linux can splice gateway →
	// client); reads must go through it, since it holds what the client
	// sent after its request.
	raw := rawConn(client)
	if _, err := raw.Write(head); err != nil {
		return 0
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		bp := copyBufs.Get().(*[]byte)
		_, _ = io.CopyBuffer(writerOnly{backend}, client, *bp)
		copyBufs.Put(bp)
		// The client is gone or done: let the gateway know.
		_ = backend.Close()
	}()
	n, _ := fromBackend.WriteTo(raw)
	// The gateway is gone or done: end the client's read as well.
	_ = client.SetReadDeadline(time.Now())
	<-done
	return n
}

// rawConn is the connection under fasthttp's hijacked one, for writes.
func rawConn(client net.Conn) net.Conn {
	if u, ok := client.(interface{ UnsafeConn() net.Conn }); ok {
		return u.UnsafeConn()
	}
	return client
}

// writerOnly hides ReadFrom, so CopyBuffer uses the pooled buffer.
type writerOnly struct{ io.Writer }
