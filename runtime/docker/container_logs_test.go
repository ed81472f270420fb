package docker

import (
	"slices"
	"testing"
	"time"
)

// TailLogs returns the last lines the gateway wrote, stdout and stderr in
// the order written.
func TestTailLogs(t *testing.T) {
	r := newTestRuntime(t)
	image := testImage(t, r.api)
	ctx := ctxT(t)
	const ns = "talky"
	if _, err := r.Create(ctx, testSpec(ns, image)); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := r.Start(ctx, ns); err != nil {
		t.Fatalf("start: %v", err)
	}
	inst, err := r.Inspect(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	// The engine reads stdout and stderr apart and stamps each line as it
	// reads it: each line is waited for before the next is written, so
	// the order is known.
	var got []string
	for _, say := range []struct{ line, query string }{{"one", ""}, {"two", "&stream=err"}, {"three", ""}} {
		httpGet(t, "http://"+inst.Address+"/say?line="+say.line+say.query)
		deadline := time.Now().Add(30 * time.Second)
		for !slices.Contains(got, say.line) {
			if time.Now().After(deadline) {
				t.Fatalf("%q never reached the log: %q", say.line, got)
			}
			if got, err = r.TailLogs(ctx, ns, 10); err != nil {
				t.Fatalf("tail: %v", err)
			}
			if !slices.Contains(got, say.line) {
				time.Sleep(20 * time.Millisecond) // a poll interval, not a wait for time
			}
		}
	}
	if !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("TailLogs(10) = %q, want the three lines in order", got)
	}
	if last, err := r.TailLogs(ctx, ns, 2); err != nil || !slices.Equal(last, []string{"two", "three"}) {
		t.Fatalf("TailLogs(2) = %q, %v; want the last two", last, err)
	}
	if _, err := r.TailLogs(ctx, "nobody", 5); err == nil {
		t.Fatal("TailLogs of a namespace without a gateway: no error")
	}
}
