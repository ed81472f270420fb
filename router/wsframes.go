package router

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// WebSocket framing (RFC 6455 §5.2), as much as the relay needs to find
// frame boundaries and read a client's text messages.

const (
	opContinuation = 0x0
	opText         = 0x1
	opClose        = 0x8
	maxFrameHead   = 14
)

// wsHead is one frame's head, still in the reader: size bytes long.
type wsHead struct {
	fin    bool
	opcode byte
	masked bool
	mask   [4]byte
	length int64
	size   int
}

func (h *wsHead) control() bool { return h.opcode >= opClose }

var errFrameTooLong = errors.New("websocket frame length out of range")

// peekHead reads the next frame's head without consuming it.
func peekHead(br *bufio.Reader, h *wsHead) error {
	b, err := br.Peek(2)
	if err != nil {
		return err
	}
	size := 2
	switch b[1] & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	masked := b[1]&0x80 != 0
	if masked {
		size += 4
	}
	if b, err = br.Peek(size); err != nil {
		return err
	}
	*h = wsHead{fin: b[0]&0x80 != 0, opcode: b[0] & 0x0f, masked: masked, size: size}
	switch n := b[1] & 0x7f; n {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		u := binary.BigEndian.Uint64(b[2:10])
		if u > 1<<62 {
			return errFrameTooLong
		}
		h.length = int64(u)
	default:
		h.length = int64(n)
	}
	if masked {
		copy(h.mask[:], b[size-4:size])
	}
	return nil
}

// chunk returns the next at most n payload bytes the reader holds,
// reading if it holds none; the caller discards them.
func chunk(br *bufio.Reader, n int64) ([]byte, error) {
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			return nil, err
		}
	}
	return br.Peek(int(min(n, int64(br.Buffered()))))
}

// passFrame copies one frame, head and payload, from br to w: in one write
// when it fits the reader's buffer, else as it arrives.
func passFrame(w io.Writer, br *bufio.Reader, h *wsHead) (int64, error) {
	total := int64(h.size) + h.length
	if total <= int64(br.Size()) {
		p, err := br.Peek(int(total))
		if err != nil {
			return 0, err
		}
		n, err := w.Write(p)
		_, _ = br.Discard(n)
		return int64(n), err
	}
	return copyN(w, br, total)
}

// copyN copies n bytes from br to w through br's own buffer.
func copyN(w io.Writer, br *bufio.Reader, n int64) (int64, error) {
	var done int64
	for done < n {
		p, err := chunk(br, n-done)
		if err != nil {
			return done, err
		}
		m, err := w.Write(p)
		_, _ = br.Discard(m)
		done += int64(m)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// appendTextFrame appends an unmasked, final text frame (a server's).
func appendTextFrame(b, payload []byte) []byte {
	b = append(b, 0x80|opText)
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// reqScan reads a client's text message as it arrives, for the top-level
// "type" and "id" of an OpenClaw frame. It keeps a few bytes, never the
// message.
type reqScan struct {
	st    scanState
	depth int  // nesting inside a value at the top level
	inStr bool // inside a string of a nested value
	esc   bool // the previous byte was a backslash

	key    [8]byte
	keyLen int
	keyOdd bool // longer than key, or escaped
	field  byte // 't' type, 'i' id, 'm' method, 0 other: the value being read

	typ    [8]byte
	typLen int
	typOdd bool
	sawReq bool // a plain "type":"req"
	// typed: the last "type" was a plain string; other: it was not "req".
	typed, other bool

	id    [128]byte
	idLen int
	idOdd bool // too long, or not a scalar

	// method is the request's RPC method for the audit log, once its
	// value has ended (methodSeen); too long or escaped: methodOdd.
	method     [64]byte
	methodLen  int
	methodOdd  bool
	methodSeen bool
	odd        bool // an escaped key: what a JSON parser reads may differ
	broken     bool // not a JSON object
	done       bool // the object's closing brace was read
}

type scanState uint8

const (
	sStart scanState = iota
	sKeyOrEnd
	sKey
	sColon
	sValue
	sString // a top-level string value
	sScalar // a top-level number, true, false, null
	sNested // a top-level object or array value
	sAfter
	sEnd
)

func (s *reqScan) reset() { *s = reqScan{} }

// feed scans p, unmasked with mask from payload offset off.
func (s *reqScan) feed(p []byte, masked bool, mask [4]byte, off int64) {
	for i, c := range p {
		if s.st == sEnd {
			return
		}
		if masked {
			c ^= mask[(off+int64(i))&3]
		}
		s.byte(c)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *reqScan) byte(c byte) {
	switch s.st {
	case sStart:
		if isSpace(c) {
			return
		}
		if c != '{' {
			s.fail()
			return
		}
		s.st = sKeyOrEnd
	case sKeyOrEnd:
		switch {
		case isSpace(c):
		case c == '"':
			s.st, s.keyLen, s.keyOdd, s.esc = sKey, 0, false, false
		case c == '}':
			s.done, s.st = true, sEnd
		default:
			s.fail()
		}
	case sKey:
		switch {
		case s.esc:
			s.esc = false
		case c == '\\':
			s.esc, s.keyOdd, s.odd = true, true, true
		case c == '"':
			s.st = sColon
			s.field = 0
			if !s.keyOdd {
				switch string(s.key[:s.keyLen]) {
				case "type":
					s.field = 't'
				case "id":
					s.field = 'i'
				case "method":
					s.field = 'm'
				}
			}
		default:
			if s.keyLen == len(s.key) {
				s.keyOdd = true
			} else {
				s.key[s.keyLen] = c
				s.keyLen++
			}
		}
	case sColon:
		switch {
		case isSpace(c):
		case c == ':':
			s.st = sValue
		default:
			s.fail()
		}
	case sValue:
		if isSpace(c) {
			return
		}
		switch s.field {
		case 't':
			s.typLen, s.typOdd = 0, false
		case 'i':
			s.idLen, s.idOdd = 0, false
		case 'm':
			s.methodLen, s.methodOdd = 0, false
		}
		switch c {
		case '"':
			s.st, s.esc = sString, false
			s.keep(c)
		case '{', '[':
			s.st, s.depth, s.inStr, s.esc = sNested, 1, false, false
			if s.field == 't' {
				s.typed, s.other = false, true
			}
			s.idOdd = s.idOdd || s.field == 'i'
			s.methodOdd = s.methodOdd || s.field == 'm'
			s.methodSeen = s.methodSeen || s.field == 'm'
		case ',', '}', ']', ':':
			s.fail()
		default:
			s.st = sScalar
			if s.field == 't' {
				s.typed, s.other = false, true
			}
			if s.field == 'm' {
				s.methodOdd, s.methodSeen = true, true
			}
			s.keep(c)
		}
	case sString:
		switch {
		case s.esc:
			s.esc = false
			s.typOdd = true
			s.methodOdd = s.methodOdd || s.field == 'm'
			s.keep(c)
		case c == '\\':
			s.esc = true
			s.keep(c)
		case c == '"':
			s.keep(c)
			s.st = sAfter
			if s.field == 't' {
				s.endType()
			}
			if s.field == 'm' {
				s.methodSeen = true
			}
		default:
			s.keep(c)
		}
	case sScalar:
		switch {
		case isSpace(c):
			s.st = sAfter
		case c == ',':
			s.st = sKeyOrEnd
		case c == '}':
			s.done, s.st = true, sEnd
		default:
			s.keep(c)
		}
	case sNested:
		switch {
		case s.esc:
			s.esc = false
		case s.inStr && c == '\\':
			s.esc = true
		case c == '"':
			s.inStr = !s.inStr
		case s.inStr:
		case c == '{' || c == '[':
			s.depth++
		case c == '}' || c == ']':
			if s.depth--; s.depth == 0 {
				s.st = sAfter
			}
		}
	case sAfter:
		switch {
		case isSpace(c):
		case c == ',':
			s.st = sKeyOrEnd
		case c == '}':
			s.done, s.st = true, sEnd
		default:
			s.fail()
		}
	}
}

// keep records a byte of the value being read, if it is type or id.
func (s *reqScan) keep(c byte) {
	switch s.field {
	case 't':
		if s.typLen == len(s.typ) {
			s.typOdd = true
		} else {
			s.typ[s.typLen] = c
			s.typLen++
		}
	case 'i':
		if s.idLen == len(s.id) {
			s.idOdd = true
		} else {
			s.id[s.idLen] = c
			s.idLen++
		}
	case 'm':
		if s.methodLen == len(s.method) {
			s.methodOdd = true
		} else {
			s.method[s.methodLen] = c
			s.methodLen++
		}
	}
}

// methodKnown: the method's value has been read, or the whole message.
func (s *reqScan) methodKnown() bool { return s.methodSeen || s.st == sEnd }

// methodName is the request's method as a plain string, or "" when it
// had none the scanner could keep.
func (s *reqScan) methodName() string {
	if !s.methodSeen || s.methodOdd || s.methodLen < 2 {
		return ""
	}
	return string(s.method[1 : s.methodLen-1])
}

func (s *reqScan) endType() {
	plain := !s.typOdd && s.typLen >= 2
	v := ""
	if plain {
		v = string(s.typ[1 : s.typLen-1])
	}
	s.typed = plain
	s.other = !plain || v != "req"
	if plain && v == "req" {
		s.sawReq = true
	}
}

func (s *reqScan) fail() { s.broken, s.st = true, sEnd }

// isReq: the message says "type":"req" in plain words.
func (s *reqScan) isReq() bool { return s.sawReq }

// notReq: the whole message was read, and it is surely not a request: a
// well-formed object whose one plain "type" is something else. A message
// that cannot be told apart counts as a request.
func (s *reqScan) notReq() bool {
	return s.done && !s.broken && !s.odd && !s.sawReq && s.typed && s.other
}

// idJSON is the request's id as sent, or null when it had none the
// scanner could keep.
func (s *reqScan) idJSON() []byte {
	if s.idLen == 0 || s.idOdd || (s.st == sString && s.field == 'i') {
		return []byte("null")
	}
	return s.id[:s.idLen]
}
