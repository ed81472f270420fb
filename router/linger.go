package router

import (
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// Bounds of lingerClose: how long and how much of a refused request it
// reads before closing regardless.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 16 << 20
)

// lingerClose sends the answer ctx holds now and lets the client finish
// its request before the connection closes. Closing on a request not yet
// read (a head too large is refused after its first bytes) resets the
// connection, and a client still writing then sees its write fail instead
// of the answer. So: answer, shut the sending side (the client reads the
// answer and the end of it), read what the client still sends until it
// closes or the bounds pass, and leave the close to the server. The
// server's own write of the answer afterwards fails on the shut side and
// is dropped.
func lingerClose(ctx *fasthttp.RequestCtx) {
	conn := ctx.Conn()
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok {
		return // the server answers and closes as before
	}
	ctx.SetConnectionClose()
	_ = conn.SetWriteDeadline(time.Now().Add(lingerTime))
	if _, err := ctx.Response.WriteTo(conn); err != nil {
		return
	}
	if err := cw.CloseWrite(); err != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, conn, lingerBytes)
}
