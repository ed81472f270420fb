package reaper

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

type fakeObjects struct {
	mu      sync.Mutex
	objs    []runtime.Object
	removed []string
}

func (f *fakeObjects) Objects(context.Context) ([]runtime.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.objs), nil
}

func (f *fakeObjects) RemoveObject(_ context.Context, o runtime.Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, o.Name)
	f.objs = slices.DeleteFunc(f.objs, func(x runtime.Object) bool { return x.ID == o.ID })
	return nil
}

type fakeLister []namespace.Namespace

func (l fakeLister) ListNamespaces(context.Context) ([]namespace.Namespace, error) { return l, nil }

// spareOwners owns the objects of the spares it lists, as the pool does.
type spareOwners map[string]bool

func (s spareOwners) Owns(o runtime.Object) bool { return o.Namespace == "" && s[o.Spare] }

// The leak reaper removes, after the grace period, the containers and
// networks no namespace and no live spare owns, including a spare's
// network left by a create or adoption cut short; it never removes a
// volume, and does not call an adopted spare's volumes orphaned.
func TestLeaksTakesOnlyWhatNothingOwns(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	objs := &fakeObjects{objs: []runtime.Object{
		{Kind: "container", ID: "c1", Name: "clawd-x-alpha", Namespace: "alpha", Created: old},
		{Kind: "container", ID: "c2", Name: "clawd-x-gone", Namespace: "gone", Created: old},
		{Kind: "container", ID: "c3", Name: "clawd-x.spare-live", Spare: "live", Created: old},
		{Kind: "network", ID: "n1", Name: "clawd-x.spare-live-net", Spare: "live", Created: old},
		{Kind: "network", ID: "n2", Name: "clawd-x.spare-dead-net", Spare: "dead", Created: old},
		{Kind: "container", ID: "c4", Name: "clawd-x-warm", Spare: "adopted", Namespace: "warm", Created: old},
		{Kind: "volume", ID: "v1", Name: "clawd-x.spare-adopted-data", Spare: "adopted", Created: old},
		{Kind: "volume", ID: "v2", Name: "clawd-x-gone-data", Namespace: "gone", Created: old},
	}}
	nss := fakeLister{
		{Spec: namespace.Spec{Name: "alpha"}},
		{Spec: namespace.Spec{Name: "warm", DataVolume: "clawd-x.spare-adopted-data"}},
	}
	l := NewLeaks(objs, nss, spareOwners{"live": true}, 10*time.Minute, false, nil)
	now := time.Now()
	if err := l.Pass(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if len(objs.removed) != 0 {
		t.Fatalf("removed %v on first sight, want the grace period first", objs.removed)
	}
	if err := l.Pass(context.Background(), now.Add(11*time.Minute)); err != nil {
		t.Fatal(err)
	}
	slices.Sort(objs.removed)
	if want := []string{"clawd-x-gone", "clawd-x.spare-dead-net"}; !slices.Equal(objs.removed, want) {
		t.Fatalf("removed %v, want %v", objs.removed, want)
	}
	if l.reported["v1"] || !l.reported["v2"] {
		t.Errorf("reported volumes %v, want only the deleted namespace's", l.reported)
	}
}
