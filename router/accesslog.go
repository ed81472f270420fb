package router

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// AccessLog writes one JSON object per request, one per line:
//
//	{"time":"2026-01-02T15:04:05.123Z","namespace":"alpha","key_id":"k1","method":"GET",
//	 "host":"alpha.example.com","path":"/v1/models","status":200,"duration_ms":1.532,
//	 "bytes":512,"bytes_in":0,"wake_waited_ms":0,"remote":"203.0.113.9:51234"}
//
// A request of a signed-in session has "user":"oidc:…" after key_id.
//
// A request only queues its line; Run writes them, buffered and flushed at
// least once a second, and Flush on shutdown. A stuck output (a paused
// terminal, a full pipe) never blocks a request: when the queue is full
// the line is dropped and counted (clawd_router_access_log_dropped_total).
type AccessLog struct {
	lines   chan *[]byte
	dropped atomic.Uint64
	drops   prometheus.CounterFunc

	mu sync.Mutex // guards w; never taken on the request path
	w  *bufio.Writer
}

var (
	_ Observer             = (*AccessLog)(nil)
	_ prometheus.Collector = (*AccessLog)(nil)
)

// accessQueue is how many lines wait for the writer, about 4 MiB.
const accessQueue = 16 << 10

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// NewAccessLog writes to w.
func NewAccessLog(w io.Writer) *AccessLog {
	l := &AccessLog{w: bufio.NewWriterSize(w, 64<<10), lines: make(chan *[]byte, accessQueue)}
	l.drops = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "clawd_router_access_log_dropped_total",
		Help: "Access log lines dropped because the output did not keep up.",
	}, func() float64 { return float64(l.dropped.Load()) })
	return l
}

// Run writes queued lines and flushes them every interval until ctx ends,
// then once more.
func (l *AccessLog) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = l.Flush()
			return
		case b := <-l.lines:
			l.mu.Lock()
			l.write(b)
			l.mu.Unlock()
		case <-t.C:
			_ = l.Flush()
		}
	}
}

// write sends one line to the buffer; l.mu is held.
func (l *AccessLog) write(b *[]byte) {
	_, _ = l.w.Write(*b)
	lineBufs.Put(b)
}

// Flush writes out queued and buffered lines.
func (l *AccessLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		select {
		case b := <-l.lines:
			l.write(b)
		default:
			return l.w.Flush()
		}
	}
}

// Dropped is how many lines were dropped because the queue was full.
func (l *AccessLog) Dropped() uint64 { return l.dropped.Load() }

// Describe and Collect make the log its own drop counter's collector.
func (l *AccessLog) Describe(ch chan<- *prometheus.Desc) { l.drops.Describe(ch) }

// Collect reports the drop counter.
func (l *AccessLog) Collect(ch chan<- prometheus.Metric) { l.drops.Collect(ch) }

// ObserveRequest queues the request's line, or drops it if the queue is
// full.
func (l *AccessLog) ObserveRequest(i *RequestInfo) {
	b := lineBufs.Get().(*[]byte)
	*b = AppendAccessLine((*b)[:0], i)
	select {
	case l.lines <- b:
	default:
		l.dropped.Add(1)
		lineBufs.Put(b)
	}
}

// AppendAccessLine appends i's JSON line, newline included, to b.
func AppendAccessLine(b []byte, i *RequestInfo) []byte {
	b = append(b, `{"time":"`...)
	b = i.Start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","namespace":`...)
	b = appendJSONString(b, i.Namespace)
	b = append(b, `,"key_id":`...)
	b = appendJSONString(b, i.KeyID)
	if i.User != "" {
		b = append(b, `,"user":`...)
		b = appendJSONString(b, i.User)
	}
	b = append(b, `,"method":`...)
	b = appendJSONString(b, i.Method)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, clip(i.Host, maxLoggedHost))
	b = append(b, `,"path":`...)
	b = appendJSONString(b, clip(i.Path, maxLoggedPath))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(i.Status), 10)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, i.Duration)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, i.BytesOut, 10)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, i.BytesIn, 10)
	b = append(b, `,"wake_waited_ms":`...)
	b = appendMillis(b, i.WakeWaited)
	b = append(b, `,"remote":`...)
	b = appendJSONString(b, i.Remote)
	return append(b, "}\n"...)
}

// Clients choose hosts and paths up to the header limit; a line stays short
// enough for line-oriented log readers (bufio.Scanner stops at 64 KiB).
const (
	maxLoggedHost = 256
	maxLoggedPath = 2048
)

// clip cuts s to n bytes; a rune cut in two is escaped as U+FFFD.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// appendMillis writes d in milliseconds with microsecond precision.
func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string. Paths and hosts come from
// clients, so control characters and invalid UTF-8 are escaped rather than
// trusted to keep the line one valid JSON object.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
