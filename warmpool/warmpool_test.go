package warmpool

import (
	"context"
	"errors"
	"net/netip"
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

// addressedPool is a fakePool that tells each spare's router address and
// records the state files each spare is made with.
type addressedPool struct {
	fakePool
	files map[string]string // spare id → its config
}

func (f *addressedPool) SpareRouterAddress(_ context.Context, id string) (netip.Addr, error) {
	return netip.MustParseAddr("10.213.0.1"), nil
}

func (f *addressedPool) CreateSpare(ctx context.Context, id string, spec runtime.GatewaySpec) (runtime.Instance, error) {
	f.mu.Lock()
	f.files[id] = string(spec.StateFiles["openclaw.json"])
	f.mu.Unlock()
	return f.fakePool.CreateSpare(ctx, id, spec)
}

// A spare's config is rendered for the router's address on its own network,
// which its namespace's gateway keeps; the template's only when the runtime
// cannot tell the address.
func TestSpareConfigTrustsTheRouterOnItsNetwork(t *testing.T) {
	render := func(router netip.Addr) (map[string][]byte, error) {
		return map[string][]byte{"openclaw.json": []byte("trusts " + router.String())}, nil
	}
	template := runtime.GatewaySpec{StateFiles: map[string][]byte{"openclaw.json": []byte("trusts the pool")}}

	rt := &addressedPool{fakePool: fakePool{spares: map[string]bool{}}, files: map[string]string{}}
	New(Config{Size: 2, Spec: template, SpareFiles: render, ReadyPath: "/readyz"}, rt).pass(context.Background())
	if len(rt.files) != 2 {
		t.Fatalf("made %d spares, want 2", len(rt.files))
	}
	for id, f := range rt.files {
		if f != "trusts 10.213.0.1" {
			t.Errorf("spare %s made with %q, want its router's address", id, f)
		}
	}

	plain := &fakePool{spares: map[string]bool{}}
	New(Config{Size: 1, Spec: template, SpareFiles: render, ReadyPath: "/readyz"}, plain).pass(context.Background())
	if len(plain.spares) != 1 {
		t.Fatalf("a runtime that cannot tell the address got %d spares, want 1 from the template", len(plain.spares))
	}
}
