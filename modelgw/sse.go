package modelgw

import (
	"bufio"
	"bytes"
	"io"
	"sync"
)

// sseReader splits a server-sent event stream into events as they
// complete, each returned as the raw bytes the provider sent (its lines and
// the blank line ending it) so the gateway passes it on unchanged. Lines
// end in \n or \r\n; no provider here ends them with a lone \r.
type sseReader struct {
	br  *bufio.Reader
	buf []byte
}

// sseReaders are pooled: a stream's reader is 36 KB, and allocating one
// per call was a third of the gateway's garbage.
var sseReaders = sync.Pool{New: func() any {
	return &sseReader{br: bufio.NewReaderSize(nil, 32<<10), buf: make([]byte, 0, 4<<10)}
}}

// newSSEReader returns a reader of r; release it when done.
func newSSEReader(r io.Reader) *sseReader {
	s := sseReaders.Get().(*sseReader)
	s.br.Reset(r)
	return s
}

// release returns s to the pool; neither it nor what next returned may be
// used after.
func (s *sseReader) release() {
	s.br.Reset(nil)
	if cap(s.buf) > 64<<10 {
		s.buf = make([]byte, 0, 4<<10) // do not pin a rare huge event
	}
	sseReaders.Put(s)
}

// maxEvent bounds the bytes held for one event: a provider that never
// ends its event has it passed on in pieces rather than held in memory.
const maxEvent = 16 << 20

// next returns the next event's bytes, valid until the following call. At
// the end of the stream it returns what is left (an event the provider did
// not terminate) with the error.
func (s *sseReader) next() ([]byte, error) {
	s.buf = s.buf[:0]
	lineStart := 0
	for {
		line, err := s.br.ReadSlice('\n')
		s.buf = append(s.buf, line...)
		if len(s.buf) >= maxEvent {
			return s.buf, nil
		}
		switch err {
		case nil:
		case bufio.ErrBufferFull:
			continue // a long line: keep appending
		default:
			return s.buf, err
		}
		l := s.buf[lineStart:]
		if len(l) == 1 || (len(l) == 2 && l[0] == '\r') {
			return s.buf, nil
		}
		lineStart = len(s.buf)
	}
}

// pending reports whether a whole event is already buffered, so flushing
// what was written can wait for it: events that arrived together leave in
// one write, and none waits on the network unflushed.
func (s *sseReader) pending() bool {
	b, _ := s.br.Peek(s.br.Buffered())
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n"))
}

// parseEvent returns an event's name (its event: field) and data (its
// data: lines, joined by \n as the SSE spec says).
func parseEvent(raw []byte) (name, data []byte) {
	joined := false
	for len(raw) > 0 {
		var line []byte
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			line, raw = raw, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			name = value
		case "data":
			switch {
			case data == nil:
				data = value
			case !joined:
				// A second data line: copy, so raw is not written over.
				data = append(append(append([]byte(nil), data...), '\n'), value...)
				joined = true
			default:
				data = append(append(data, '\n'), value...)
			}
		}
	}
	return name, data
}
