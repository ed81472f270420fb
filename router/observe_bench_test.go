package router

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The per-request cost of observation alone (wrapper, access log line into
// a discarding writer), without forwarding: go test -bench Observe ./router
func BenchmarkObserveRequest(b *testing.B) {
	r := New(nil)
	r.Observe(NewAccessLog(io.Discard))
	req := httptest.NewRequest("GET", "http://alpha.test/v1/models", nil)
	w := discardWriter{h: http.Header{}}
	body := []byte("ok")
	b.ReportAllocs()
	for b.Loop() {
		o := r.observe(w, req)
		noteNamespace(o, "alpha")
		o.WriteHeader(http.StatusOK)
		_, _ = o.Write(body)
		o.done()
	}
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
