package audit

import (
	"testing"
	"time"
)

// BenchmarkRecordAPICall is what an api_call costs the request path: the
// audit.events lookup and the append to the writer's queue (no flush).
func BenchmarkRecordAPICall(b *testing.B) {
	p := &Policy{}
	p.Set(map[string]string{"namespaces.*.audit.events": "all", "namespaces.t.audit.enabled": "true"})
	w := NewWriter(nil, WriterOptions{Filter: p.Selects})
	r := Record{Namespace: "t", Type: TypeAPICall, Actor: "apikey:k1", Action: "POST /v1/chat/completions", Target: "t.example.com", Detail: "status 200, 12ms", Time: time.Now()}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.Record(r)
		if i++; i%4096 == 0 { // what a flush does to the queue
			w.mu.Lock()
			q := w.queue
			w.queue, w.spare = w.spare, q[:0]
			w.mu.Unlock()
		}
	}
}

func BenchmarkSelects(b *testing.B) {
	p := &Policy{}
	p.Set(map[string]string{"namespaces.*.audit.events": "all", "namespaces.t.audit.enabled": "true"})
	for b.Loop() {
		p.Selects("t", TypeAPICall)
	}
}
