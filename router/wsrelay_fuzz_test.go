package router

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/quota"
)

// sink is a net.Conn that keeps what is written to it.
type sink struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// every admits every request and counts them.
type every struct{ n int }

func (e *every) Admit(string, int64, time.Time) *quota.Refusal { e.n++; return nil }

// none refuses every request and counts them.
type none struct{ n int }

func (e *none) Admit(_ string, limit int64, now time.Time) *quota.Refusal {
	e.n++
	return &quota.Refusal{Quota: quota.RequestsPerHour, Limit: limit, Reset: quota.NextHour(now)}
}

// frames splits a stream of whole frames into data frames and control
// frames, each in order, with their heads.
func frames(stream []byte) (data, control [][]byte, heads []wsHead) {
	br := bufio.NewReader(bytes.NewReader(stream))
	var h wsHead
	for peekHead(br, &h) == nil && h.length <= int64(len(stream)) {
		p := make([]byte, int64(h.size)+h.length)
		if _, err := io.ReadFull(br, p); err != nil {
			break
		}
		if h.control() {
			control = append(control, p)
			continue
		}
		data = append(data, p)
		heads = append(heads, h)
	}
	return data, control, heads
}

func isPrefix(a, b [][]byte) bool {
	if len(a) > len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// FuzzRelayClient feeds the relay any byte stream as a client's. With
// every request admitted, the gateway gets the stream's frames unchanged
// and in order (control frames may overtake a message held while it is
// read), and the client no answer from the router; with every request
// refused, no request reaches the gateway and the client gets one error
// response per refusal (but for a last message the stream cuts short).
func FuzzRelayClient(f *testing.F) {
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	f.Add(cat(clientFrame(true, opText, `{"type":"req","id":1,"method":"connect"}`)))
	f.Add(cat(clientFrame(true, opText, `{"type":"event"}`), clientFrame(true, 0x2, "bin"), clientFrame(true, 0x9, "")))
	f.Add(cat(clientFrame(false, opText, `{"id":"a",`), clientFrame(true, 0x9, "p"), clientFrame(true, opContinuation, `"type":"req"}`)))
	f.Add(cat(clientFrame(true, opText, `{"type":"req"`), clientFrame(true, opText, `not json`), clientFrame(true, 0x8, "")))
	f.Add([]byte{0x81, 0xfe, 0x00})
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		inData, inControl, _ := frames(in)
		for _, refuse := range []bool{false, true} {
			r := New(nil)
			var q Requests = &every{}
			if refuse {
				q = &none{}
			}
			r.CountRequests(q)
			calls := &callLog{}
			r.AuditCalls(calls)
			gw, client := &sink{}, &sink{}
			w := &relay{r: r, ns: "gw", limit: 5, backend: gw, client: client}
			_ = w.fromClient(bufio.NewReaderSize(bytes.NewReader(in), 16<<10))
			// Every request admitted or refused is audited once.
			admitted := 0
			if refuse {
				admitted = q.(*none).n
			} else {
				admitted = q.(*every).n
			}
			if len(calls.calls) != admitted {
				t.Fatalf("refuse=%v: %d requests, %d audited: %q", refuse, admitted, len(calls.calls), calls.calls)
			}
			outData, outControl, heads := frames(gw.buf.Bytes())
			if !isPrefix(outControl, inControl) {
				t.Fatalf("refuse=%v: control frames %q, not a prefix of %q", refuse, outControl, inControl)
			}
			if !refuse {
				if !isPrefix(outData, inData) {
					t.Fatalf("data frames %q, not a prefix of %q", outData, inData)
				}
				if client.buf.Len() != 0 {
					t.Fatalf("the router answered %q with nothing refused", client.buf.Bytes())
				}
				continue
			}
			// What reached the gateway holds no request: each text
			// message says plainly it is something else.
			var scan reqScan
			inText := false
			for i, h := range heads {
				switch h.opcode {
				case opText:
					scan.reset()
					inText = true
				case opContinuation:
				default:
					inText = false
				}
				if inText {
					scan.feed(outData[i][h.size:], h.masked, h.mask, 0)
					if h.fin && !scan.notReq() {
						t.Fatalf("a request reached the gateway with every request refused: %q", gw.buf.Bytes())
					}
				}
			}
			answers, _, _ := frames(client.buf.Bytes())
			// A refused message the stream cuts short gets no answer.
			if n := q.(*none).n; len(answers) != n && len(answers) != n-1 {
				t.Fatalf("%d refusals, %d answers", n, len(answers))
			}
		}
	})
}
