package router

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
)

// countingWaker counts wakes; a suspended namespace must get none.
type countingWaker struct{ n atomic.Int32 }

func (c *countingWaker) Wake(context.Context, string) (string, error) {
	c.n.Add(1)
	return "", context.DeadlineExceeded
}

// A namespace billing suspended answers 402 with the reason, and its
// requests never wake it.
func TestSuspendedNamespaceAnswers402(t *testing.T) {
	w := &countingWaker{}
	r := New(nil)
	r.Lifecycle(w, nil, 100*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := nsAt("a", namespace.PhaseStopped, "", "a.example")
	ns.Spec.Suspended = &namespace.Suspension{Reason: "payment overdue: invoice in_1 unpaid since 2026-11-20; pay it to resume this namespace"}
	running := nsAt("b", namespace.PhaseStopped, "", "b.example")
	go r.Run(ctx, obsWatcher{names: []namespace.Namespace{ns, running}})
	<-r.Ready()
	url := serveRouter(t, r, Limits{})
	get := func(host string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", url+"/v1/models", nil)
		req.Host = host
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var p map[string]any
		_ = json.Unmarshal(body, &p)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode == http.StatusPaymentRequired && ct != "application/problem+json" {
			t.Errorf("content type %q", ct)
		}
		return resp.StatusCode, p
	}
	code, p := get("a.example")
	if code != http.StatusPaymentRequired || p["detail"] != ns.Spec.Suspended.Reason || p["title"] != "Payment required" || p["namespace"] != "a" {
		t.Fatalf("suspended namespace: %d %v", code, p)
	}
	if n := w.n.Load(); n != 0 {
		t.Fatalf("a suspended namespace was woken %d times", n)
	}
	// Another sleeping namespace is still woken.
	if code, _ := get("b.example"); code != http.StatusServiceUnavailable || w.n.Load() != 1 {
		t.Fatalf("the other namespace: %d, wakes %d", code, w.n.Load())
	}
}
