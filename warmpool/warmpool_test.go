package warmpool

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/clawd-dev/clawd/runtime"
)

// fakePool lists the spares it created; a create of an id in failing
// leaves nothing listed, like a CreateSpare cut short after the network.
type fakePool struct {
	runtime.Pool
	mu      sync.Mutex
	spares  map[string]bool
	failing bool
}

func (f *fakePool) CreateSpare(_ context.Context, id string, _ runtime.GatewaySpec) (runtime.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing {
		return runtime.Instance{}, errors.New("engine hiccup")
	}
	f.spares[id] = true
	return runtime.Instance{SpareID: id, State: runtime.StateCreated}, nil
}

func (f *fakePool) Spares(context.Context) ([]runtime.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Instance
	for id := range f.spares {
		out = append(out, runtime.Instance{SpareID: id, Spare: true, State: runtime.StateRunning})
	}
	return out, nil
}

// The pool owns the objects of the spares it lists or creates, and no
// others: a spare's network left by a failed create is the leak reaper's.
func TestOwnsOnlyItsSpares(t *testing.T) {
	rt := &fakePool{spares: map[string]bool{}, failing: true}
	p := New(Config{Size: 1, ReadyPath: "/readyz"}, rt)
	p.pass(context.Background()) // the create fails
	rt.mu.Lock()
	rt.failing = false
	rt.mu.Unlock()
	p.pass(context.Background()) // lists nothing, creates one
	p.pass(context.Background()) // lists it

	var live string
	for id := range rt.spares {
		live = id
	}
	for _, tc := range []struct {
		o    runtime.Object
		want bool
	}{
		{runtime.Object{Kind: "network", Spare: live}, true},
		{runtime.Object{Kind: "container", Spare: live}, true},
		{runtime.Object{Kind: "network", Spare: "0123456789"}, false},
		{runtime.Object{Kind: "container", Spare: live, Namespace: "alpha"}, false},
		{runtime.Object{Kind: "network"}, false},
	} {
		if got := p.Owns(tc.o); got != tc.want {
			t.Errorf("Owns(%+v) = %v, want %v", tc.o, got, tc.want)
		}
	}
}
