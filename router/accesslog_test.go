package router

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAccessLineFormat(t *testing.T) {
	info := &RequestInfo{
		Start:      time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.FixedZone("x", 3600)),
		Namespace:  "alpha",
		KeyID:      "k1",
		Method:     "GET",
		Host:       "alpha.example.com",
		Path:       "/v1/models",
		Remote:     "203.0.113.9:51234",
		Status:     200,
		BytesIn:    3,
		BytesOut:   512,
		Duration:   1532 * time.Microsecond,
		WakeWaited: 2 * time.Second,
	}
	want := `{"time":"2026-01-02T14:04:05.123Z","namespace":"alpha","key_id":"k1","method":"GET","host":"alpha.example.com","path":"/v1/models","status":200,"duration_ms":1.532,"bytes":512,"bytes_in":3,"wake_waited_ms":2000,"remote":"203.0.113.9:51234"}` + "\n"
	if got := string(AppendAccessLine(nil, info)); got != want {
		t.Fatalf("line\n got %s\nwant %s", got, want)
	}
}

func TestAccessLineEscapes(t *testing.T) {
	cases := []struct{ name, path, want string }{
		{"quote and backslash", `/a"b\c`, ""},
		{"newline cannot split the line", "/a\nb\r", ""},
		{"control and DEL", "/\x00\x1f\x7f", ""},
		{"unicode", "/客户A/ü", ""},
		{"invalid utf-8", "/\xff\xfe", "/\ufffd\ufffd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line := AppendAccessLine(nil, &RequestInfo{Path: tc.path, Host: tc.path})
			if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
				t.Fatalf("not one line: %q", line)
			}
			var v map[string]any
			if err := json.Unmarshal(line, &v); err != nil {
				t.Fatalf("not JSON: %v: %s", err, line)
			}
			want := tc.want
			if want == "" {
				want = tc.path
			}
			if v["path"] != want {
				t.Fatalf("path %q decoded as %q", tc.path, v["path"])
			}
		})
	}
}

func TestAccessLogBuffersUntilFlush(t *testing.T) {
	var out bytes.Buffer
	l := NewAccessLog(&out)
	l.ObserveRequest(&RequestInfo{Namespace: "a", Status: 200})
	l.ObserveRequest(&RequestInfo{Namespace: "b", Status: 404})
	if out.Len() != 0 {
		t.Fatalf("written before flush: %q", out.String())
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(out.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2: %q", len(lines), out.String())
	}
	var v struct {
		Namespace string `json:"namespace"`
		Status    int    `json:"status"`
	}
	if err := json.Unmarshal(lines[1], &v); err != nil || v.Namespace != "b" || v.Status != 404 {
		t.Fatalf("second line %s: %+v %v", lines[1], v, err)
	}
}

func TestAccessLineClipsLongFields(t *testing.T) {
	long := "/" + strings.Repeat("a", 60<<10)
	line := AppendAccessLine(nil, &RequestInfo{Path: long, Host: strings.Repeat("h", 1000)})
	if len(line) > 4096 {
		t.Fatalf("line of %d bytes for a 60 KiB path", len(line))
	}
	var v map[string]any
	if err := json.Unmarshal(line, &v); err != nil || len(v["path"].(string)) != maxLoggedPath {
		t.Fatalf("clipped line: %v %d", err, len(v["path"].(string)))
	}
}

// blockedWriter blocks every write until released.
type blockedWriter struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (w *blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += strings.Count(string(p), "\n")
	return len(p), nil
}

// A stuck standard output never blocks a request: lines that do not fit
// the queue are dropped and counted, and the rest are written once the
// output moves again.
func TestAccessLogNeverBlocks(t *testing.T) {
	w := &blockedWriter{release: make(chan struct{})}
	l := NewAccessLog(w)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { l.Run(ctx, 10*time.Millisecond); close(ran) }()

	const requests = 20000 // several MiB of lines, far above any buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range requests {
			l.ObserveRequest(&RequestInfo{Namespace: "a", Path: "/v1/" + strings.Repeat("p", 200), Status: 200})
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // generous: it takes milliseconds
		close(w.release)
		t.Fatal("requests blocked on a stuck access log")
	}
	if l.Dropped() == 0 {
		t.Fatal("no line dropped although the output is stuck")
	}
	close(w.release)
	cancel()
	<-ran
	w.mu.Lock()
	defer w.mu.Unlock()
	if got := uint64(w.n) + l.Dropped(); got != requests {
		t.Fatalf("%d written + %d dropped = %d, want %d", w.n, l.Dropped(), got, requests)
	}
}
