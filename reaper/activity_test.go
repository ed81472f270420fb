package reaper

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestGate(t *testing.T) {
	a := NewActivity()
	if a.Closed("alpha") {
		t.Fatal("a namespace never seen has a shut gate")
	}
	a.Begin("alpha")
	if open := a.Close("alpha"); open != 1 || !a.Closed("alpha") {
		t.Fatalf("Close = %d, Closed = %v; want 1 open and shut", open, a.Closed("alpha"))
	}
	a.End("alpha")
	if open := a.Close("alpha"); open != 0 {
		t.Fatalf("Close = %d after the request ended, want 0", open)
	}
	if a.Closed("beta") {
		t.Fatal("shutting alpha shut beta")
	}
	a.Open("alpha")
	if a.Closed("alpha") {
		t.Fatal("Open left the gate shut")
	}
}

// The router counts a request (Begin) before it asks Closed; a sleep shuts
// the gate before it counts. However they interleave, no request is sent
// through an open gate while a sleep goes ahead believing nothing is open.
func TestGateNeverLetsARequestThroughASleep(t *testing.T) {
	for round := 0; round < 200; round++ {
		a := NewActivity()
		var slept, leaked atomic.Bool
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					a.Begin("ns")
					if !a.Closed("ns") && slept.Load() {
						leaked.Store(true) // forwarded to a gateway already asleep
					}
					a.End("ns")
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !slept.Load() {
				if a.Close("ns") == 0 {
					slept.Store(true)
					return
				}
				a.Open("ns")
			}
		}()
		wg.Wait()
		if leaked.Load() {
			t.Fatalf("round %d: a request passed an open gate after the sleep", round)
		}
	}
}
