package modelgw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// statusClientGone is the status of a call whose client left before the
// provider answered and the linger ran out (nginx's "client closed
// request"); nothing was written to anyone.
const statusClientGone = 499

// relay sends body to up and the provider's reply to w, counting it in m.
func (g *Gateway) relay(w http.ResponseWriter, r *http.Request, c *call, up Upstream, rest string, body []byte, m *meter) {
	ctx, done := g.detach(r.Context())
	defer done()

	target := strings.TrimRight(up.BaseURL, "/") + "/" + rest
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	ureq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		g.unreachable(w, c, up, err)
		return
	}
	ureq.Header = upstreamHeader(r.Header, up)
	ureq.ContentLength = int64(len(body))

	resp, err := g.transport.RoundTrip(ureq)
	if err != nil {
		if r.Context().Err() != nil {
			// The client left and the linger ran out: no one to tell.
			c.usage.Status = statusClientGone
			return
		}
		g.unreachable(w, c, up, err)
		return
	}
	defer resp.Body.Close()
	c.usage.Status = resp.StatusCode

	cw := &clientWriter{w: w, rc: http.NewResponseController(w), ctx: r.Context()}
	stream := isEventStream(resp.Header.Get("Content-Type"))
	copyResponseHeader(w.Header(), resp.Header, stream)
	w.WriteHeader(resp.StatusCode)

	if stream {
		// Headers now: a reasoning model may take a while to its first
		// event, and the client should know the call was taken.
		cw.dirty = true
		cw.flush()
		err = relayEvents(cw, resp.Body, m)
	} else {
		err = relayBody(cw, resp.Body, resp.ContentLength, m)
	}
	if err != nil && g.log.IsDebug() {
		g.log.Debug("provider reply cut short", "namespace", c.usage.Namespace, "provider", up.Name,
			"client_gone", cw.gone, "error", err)
	}
}

// detach returns the context for the upstream call: not cancelled when
// the client leaves, only Linger after it, so the provider's last events
// (which carry the usage) are still read. done releases it.
func (g *Gateway) detach(client context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(client))
	var timer atomic.Pointer[time.Timer]
	stop := context.AfterFunc(client, func() {
		if g.log.IsTrace() {
			g.log.Trace("client left, lingering on the provider", "linger", g.linger)
		}
		timer.Store(time.AfterFunc(g.linger, cancel))
	})
	return ctx, func() {
		// Before the handler returns, which cancels the client's context.
		stop()
		if t := timer.Load(); t != nil {
			t.Stop()
		}
		cancel()
	}
}

// unreachable answers 502 naming the provider and its URL, never its key.
func (g *Gateway) unreachable(w http.ResponseWriter, c *call, up Upstream, err error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		// A url.Error (from a RoundTripper built on a Client) repeats
		// the URL the message names already.
		err = ue.Err
	}
	msg := fmt.Sprintf("provider %q (%s) cannot be reached: %v", up.Name, up.BaseURL, err)
	g.log.Warn("provider cannot be reached", "provider", up.Name, "base_url", up.BaseURL,
		"namespace", c.usage.Namespace, "error", err)
	c.refuse(w, up.API.anthropic(), http.StatusBadGateway, errUnreachable, msg)
}

// relayEvents passes a provider's event stream to the client event by
// event, as the provider's bytes, flushing as soon as no complete event
// is waiting behind the one just written.
func relayEvents(cw *clientWriter, body io.Reader, m *meter) error {
	sr := newSSEReader(body)
	defer sr.release()
	for {
		raw, err := sr.next()
		if len(raw) > 0 {
			name, data := parseEvent(raw)
			if !m.event(name, data) {
				cw.write(raw)
			}
		}
		if err != nil {
			cw.flush()
			if err == io.EOF {
				return nil
			}
			return err
		}
		if !sr.pending() {
			cw.flush()
		}
	}
}

// copyBufs are relayBody's read buffers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// relayBody passes a whole reply to the client as it arrives and keeps a
// copy (up to maxCapture) to count its usage from.
func relayBody(cw *clientWriter, body io.Reader, size int64, m *meter) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var captured []byte
	if size > 0 && size <= maxCapture {
		captured = make([]byte, 0, size)
	}
	overflow := false
	var err error
	for {
		var n int
		n, err = body.Read(buf)
		if n > 0 {
			cw.write(buf[:n])
			if len(captured)+n <= maxCapture {
				captured = append(captured, buf[:n]...)
			} else {
				overflow = true
			}
		}
		if err != nil {
			break
		}
	}
	if !overflow {
		m.body(captured)
	}
	if err == io.EOF {
		return nil
	}
	return err
}

// clientWriter writes to the client until the client is gone, and from
// then on only swallows what the relay still reads from the provider.
type clientWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	ctx   context.Context // the client's
	gone  bool
	dirty bool // written since the last flush
}

func (c *clientWriter) write(b []byte) {
	if c.gone {
		return
	}
	if c.ctx.Err() != nil {
		c.gone = true
		return
	}
	if _, err := c.w.Write(b); err != nil {
		c.gone = true
		return
	}
	c.dirty = true
}

func (c *clientWriter) flush() {
	if c.gone || !c.dirty {
		return
	}
	c.dirty = false
	if err := c.rc.Flush(); err != nil {
		c.gone = true
	}
}

// isEventStream reports whether a Content-Type is server-sent events.
func isEventStream(ct string) bool {
	if !strings.HasPrefix(ct, "text/event-stream") {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "text/event-stream"
}

// Headers that describe one connection, not the message (RFC 9110 §7.6.1),
// and so are never forwarded.
var hopByHop = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Proxy-Connection":    true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// notUpstream are request headers the provider must not see: the tenant's
// credentials and cookies, the tenant's address, and the OpenAI headers
// that would let a tenant pick another organization or project of the
// operator's key. Accept-Encoding goes too, so the transport negotiates
// compression itself and the gateway reads plain bytes to count.
var notUpstream = map[string]bool{
	"Authorization":       true,
	"X-Api-Key":           true,
	"Cookie":              true,
	"Content-Length":      true,
	"Expect":              true, // the body is already here: no 100-continue wait
	"Accept-Encoding":     true,
	"Forwarded":           true,
	"X-Forwarded-For":     true,
	"X-Forwarded-Host":    true,
	"X-Forwarded-Proto":   true,
	"X-Real-Ip":           true,
	"Openai-Organization": true,
	"Openai-Project":      true,
}

// upstreamHeader is the header of the request to up: the client's, less
// what notUpstream and hopByHop name, with the provider's key.
func upstreamHeader(in http.Header, up Upstream) http.Header {
	h := make(http.Header, len(in)+2)
	var connTokens []string
	for _, v := range in["Connection"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				connTokens = append(connTokens, http.CanonicalHeaderKey(t))
			}
		}
	}
	for k, vv := range in {
		if hopByHop[k] || notUpstream[k] || slices.Contains(connTokens, k) {
			continue
		}
		h[k] = vv // shared, not copied: neither side changes them
	}
	if up.API.anthropic() {
		h["X-Api-Key"] = []string{up.APIKey}
		if h.Get("Anthropic-Version") == "" {
			h["Anthropic-Version"] = []string{"2023-06-01"}
		}
	} else {
		h["Authorization"] = []string{"Bearer " + up.APIKey}
	}
	return h
}

// copyResponseHeader copies the provider's response header to the
// client's, less hop-by-hop headers and the provider's cookies, and less
// Content-Length for a stream (the gateway may drop an event).
func copyResponseHeader(dst, src http.Header, stream bool) {
	for k, vv := range src {
		if hopByHop[k] || k == "Set-Cookie" || (stream && k == "Content-Length") {
			continue
		}
		dst[k] = vv
	}
}
