package router

import (
	"bufio"
	"encoding/json"
	"net"
	"sync"
	"time"

	"github.com/clawd-dev/clawd/quota"
)

// maxHeld is how much of a client's text message the relay holds back
// while it reads whether the message is a request. OpenClaw clients put
// "type" and "id" first; a message that has not said so by then counts as
// a request.
const maxHeld = 64 << 10

// maxPending bounds the refusals waiting for the gateway to finish a
// fragmented message; more are dropped (their requests go unanswered).
const maxPending = 64

var relayReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// relay is a WebSocket tunnel that reads frames: each OpenClaw request a
// client sends ("type":"req") is counted, and one over quota is answered
// by the router with an error response instead of being forwarded, the
// socket left open. Frames go on unchanged.
type relay struct {
	r       *Router
	ns      string
	keyID   string // the API key that opened the socket, for the audit log
	limit   int64  // api.requestsPerHour when the socket opened
	backend net.Conn
	client  net.Conn // writes only; reads go through the hijacked conn

	mu sync.Mutex
	// busy: the gateway's copy is inside a frame or a fragmented message,
	// so a refusal must wait in pending.
	busy    bool
	pending [][]byte
}

// limitNow is the namespace's api.requestsPerHour as the router's table
// has it now: a quota changed while the socket is open applies to it.
func (w *relay) limitNow() int64 {
	if rt := w.r.table.Load().byName[w.ns]; rt != nil {
		return rt.requestsPerHour
	}
	return w.limit
}

// splice sends the gateway's 101 head to the client, then relays frames
// both ways until either side ends, and returns the bytes sent to the
// client.
func (w *relay) splice(client net.Conn, fromBackend *bufio.Reader, head []byte) int64 {
	defer w.backend.Close()
	if _, err := w.client.Write(head); err != nil {
		return 0
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cr := relayReaders.Get().(*bufio.Reader)
		cr.Reset(client)
		_ = w.fromClient(cr)
		cr.Reset(nil)
		relayReaders.Put(cr)
		_ = w.backend.Close()
	}()
	n, _ := w.fromGateway(fromBackend)
	_ = client.SetReadDeadline(time.Now())
	<-done
	return n
}

// fromGateway copies the gateway's frames to the client, keeping track of
// where a refusal may go between them.
func (w *relay) fromGateway(br *bufio.Reader) (int64, error) {
	var n int64
	var h wsHead
	inMessage := false
	for {
		if err := peekHead(br, &h); err != nil {
			return n, err
		}
		w.mu.Lock()
		w.busy = true
		w.mu.Unlock()
		m, err := passFrame(w.client, br, &h)
		n += m
		if err != nil {
			return n, err
		}
		if !h.control() {
			inMessage = !h.fin
		}
		w.mu.Lock()
		w.busy = inMessage
		if !inMessage {
			for _, f := range w.pending {
				if _, err := w.client.Write(f); err != nil {
					w.mu.Unlock()
					return n, err
				}
			}
			w.pending = w.pending[:0]
		}
		w.mu.Unlock()
	}
}

// answer sends a frame of the router's own to the client, between the
// gateway's messages.
func (w *relay) answer(frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy {
		if len(w.pending) < maxPending {
			w.pending = append(w.pending, frame)
		}
		return nil
	}
	_, err := w.client.Write(frame)
	return err
}

// Message modes of the client's copy.
const (
	modePass = iota // forwarded as it arrives
	modeHold        // held while it is read for "type"
	modeDrop        // refused: read for its id, not forwarded
)

// fromClient copies the client's frames to the gateway, admitting each
// request on the way.
func (w *relay) fromClient(cr *bufio.Reader) error {
	var (
		h    wsHead
		scan reqScan
		held []byte
		mode = modePass
		ref  *quota.Refusal
		// call: a request admitted or refused whose audit record waits
		// for its method (read on from the message, not past its end).
		call     bool
		auditing = w.r.calls.Load() != nil
	)
	emit := func() {
		if call {
			call = false
			w.r.auditCall(w.ns, w.keyID, scan.methodName(), ref != nil)
		}
	}
	defer emit()
	// decide admits the held message: it goes on, or is dropped.
	decide := func() error {
		ref = w.r.admit(w.ns, w.limitNow(), time.Now())
		call = auditing
		if ref == nil {
			mode = modePass
			_, err := w.backend.Write(held)
			held = held[:0]
			return err
		}
		mode, held = modeDrop, held[:0]
		return nil
	}
	for {
		if err := peekHead(cr, &h); err != nil {
			return err
		}
		if h.control() {
			// Control frames may come between a message's fragments.
			if _, err := passFrame(w.backend, cr, &h); err != nil {
				return err
			}
			continue
		}
		if h.opcode != opContinuation {
			if mode == modeHold {
				// A new message before the held one ended breaks the
				// protocol (the gateway will close); the held one is
				// judged as it stands, so it is neither lost nor free.
				if err := decide(); err != nil {
					return err
				}
			}
			if mode == modeDrop {
				if err := w.answer(refusalFrame(scan.idJSON(), ref, time.Now())); err != nil {
					return err
				}
			}
			emit() // before the scanner turns to the new message
			mode = modePass
			if h.opcode == opText {
				mode = modeHold
				scan.reset()
				held, ref = held[:0], nil
			}
		}
		// A request's method may come in a later fragment: read on
		// until it has (the frame still goes on as it comes).
		if mode == modePass && (!call || scan.methodKnown()) {
			if _, err := passFrame(w.backend, cr, &h); err != nil {
				return err
			}
			continue
		}
		p, err := cr.Peek(h.size)
		if err != nil {
			return err
		}
		switch mode {
		case modeHold:
			held = append(held, p...)
		case modePass:
			if _, err := w.backend.Write(p); err != nil {
				return err
			}
		}
		_, _ = cr.Discard(h.size)
		for off := int64(0); off < h.length; {
			p, err := chunk(cr, h.length-off)
			if err != nil {
				return err
			}
			switch mode {
			case modePass:
				if call && !scan.methodKnown() {
					scan.feed(p, h.masked, h.mask, off)
				}
				_, err = w.backend.Write(p)
			case modeHold:
				held = append(held, p...)
				scan.feed(p, h.masked, h.mask, off)
			case modeDrop:
				scan.feed(p, h.masked, h.mask, off)
			}
			_, _ = cr.Discard(len(p))
			off += int64(len(p))
			if err != nil {
				return err
			}
			if call && scan.methodKnown() {
				emit()
			}
			if mode == modeHold && (scan.isReq() || len(held) > maxHeld) {
				if err := decide(); err != nil {
					return err
				}
			}
		}
		if !h.fin {
			continue
		}
		if mode == modeHold {
			if scan.notReq() {
				if _, err := w.backend.Write(held); err != nil {
					return err
				}
				held, mode = held[:0], modePass
				continue
			}
			if err := decide(); err != nil {
				return err
			}
		}
		if mode == modeDrop {
			if err := w.answer(refusalFrame(scan.idJSON(), ref, time.Now())); err != nil {
				return err
			}
		}
		mode = modePass
		emit() // the message has ended: its method is what was read
	}
}

// refusalFrame is the OpenClaw error response to a request over quota:
// {"type":"res","id":…,"ok":false,"error":{…}}, in the shape of the
// gateway's own errors, retryable once the quota resets.
func refusalFrame(id []byte, ref *quota.Refusal, now time.Time) []byte {
	type details struct {
		Quota  string    `json:"quota"`
		Limit  int64     `json:"limit"`
		Resets time.Time `json:"resets"`
	}
	type rpcError struct {
		Code         string  `json:"code"`
		Message      string  `json:"message"`
		Retryable    bool    `json:"retryable"`
		RetryAfterMs int64   `json:"retryAfterMs"`
		Details      details `json:"details"`
	}
	if !json.Valid(id) {
		id = []byte("null")
	}
	body, _ := json.Marshal(struct {
		Type  string          `json:"type"`
		ID    json.RawMessage `json:"id"`
		OK    bool            `json:"ok"`
		Error rpcError        `json:"error"`
	}{Type: "res", ID: json.RawMessage(id), Error: rpcError{
		Code:         "UNAVAILABLE",
		Message:      ref.Error(),
		Retryable:    true,
		RetryAfterMs: max(ref.RetryAfter(now).Milliseconds(), 1000),
		Details:      details{Quota: ref.Quota, Limit: ref.Limit, Resets: ref.Reset.UTC()},
	}})
	return appendTextFrame(nil, body)
}
