package registry

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/provider"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
)

func newTestRegistry(t *testing.T) (*Registry, *secrets.Box) {
	t.Helper()
	box, err := secrets.New(bytes.Repeat([]byte{9}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return NewRegistry(box, "http://172.17.0.1:7071", nil), box
}

func running(name, addr string, created time.Time) namespace.Namespace {
	return namespace.Namespace{
		Spec:   namespace.Spec{Name: name, CreatedAt: created},
		Status: namespace.Status{Phase: namespace.PhaseRunning, Address: addr},
	}
}

func TestAuthenticate(t *testing.T) {
	r, _ := newTestRegistry(t)
	t0 := time.Unix(1700000000, 0)
	alpha, beta := running("alpha", "10.213.0.2:18789", t0), running("beta", "10.213.0.18:18789", t0)
	r.applyNamespace(store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{alpha, beta}})
	tokA := r.Token(alpha.Spec)
	ipA, ipB := netip.MustParseAddr("10.213.0.2"), netip.MustParseAddr("10.213.0.18")

	if ns, ok := r.Authenticate(tokA, ipA); !ok || ns != "alpha" {
		t.Fatalf("alpha's token from alpha's gateway: %q %v", ns, ok)
	}
	for name, tc := range map[string]struct {
		tok  string
		from netip.Addr
	}{
		"from beta's gateway": {tokA, ipB},
		"from the host":       {tokA, netip.MustParseAddr("127.0.0.1")},
		"tampered":            {tokA[:len(tokA)-2] + "xx", ipA},
		"renamed":             {"cmt.beta." + tokA[len("cmt.alpha."):], ipB},
		"no prefix":           {tokA[4:], ipA},
		"empty":               {"", ipA},
	} {
		if ns, ok := r.Authenticate(tc.tok, tc.from); ok {
			t.Errorf("%s: accepted as %s", name, ns)
		}
	}
	// Deleted, then made again under the same name: the old token is dead.
	r.applyNamespace(store.Event{Type: store.EventDelete, Name: "alpha"})
	if _, ok := r.Authenticate(tokA, ipA); ok {
		t.Error("a deleted namespace's token is accepted")
	}
	again := running("alpha", "10.213.0.2:18789", t0.Add(time.Hour))
	r.applyNamespace(store.Event{Type: store.EventPut, Name: "alpha", Namespace: again})
	if _, ok := r.Authenticate(tokA, ipA); ok {
		t.Error("the old namespace's token works for the new one of the same name")
	}
	if _, ok := r.Authenticate(r.Token(again.Spec), ipA); !ok {
		t.Error("the new namespace's own token is refused")
	}
}

func TestProvidersAndModels(t *testing.T) {
	r, box := newTestRegistry(t)
	sealed, _ := box.Seal([]byte("sk-real"), provider.KeyContext("openai"))
	stolen, _ := box.Seal([]byte("sk-other"), provider.KeyContext("other"))
	r.setProviders([]provider.Provider{
		{Name: "openai", API: "openai-completions", BaseURL: "https://api.openai.com/v1", Models: []string{"gpt-4o"}, SealedKey: sealed},
		// A sealed key copied from another record does not open here.
		{Name: "copied", API: "openai-completions", BaseURL: "https://x/v1", Models: []string{"m"}, SealedKey: stolen},
	})
	select {
	case <-r.Changes():
	default:
		t.Error("no change signalled")
	}
	up, ok := r.Provider("openai")
	if !ok || up.APIKey != "sk-real" || up.BaseURL != "https://api.openai.com/v1" || string(up.API) != "openai-completions" {
		t.Fatalf("Provider(openai) = %+v, %v", up, ok)
	}
	if _, ok := r.Provider("copied"); ok {
		t.Error("a provider whose key does not open is served")
	}
	spec := namespace.Spec{Name: "alpha", CreatedAt: time.Unix(1, 0)}
	m := r.Models(spec)
	if m.BaseURL != "http://172.17.0.1:7071" || m.Token != r.Token(spec) || len(m.Providers) != 2 {
		t.Errorf("Models = %+v", m)
	}
}
