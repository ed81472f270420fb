package placement

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

const gi = int64(1) << 30

func TestChoose(t *testing.T) {
	nodes := []store.Node{
		{Name: "a", MemoryBudget: 8 * gi, MemoryEstimate: gi, Labels: map[string]string{"zone": "x"}},
		{Name: "b", MemoryBudget: 8 * gi, MemoryEstimate: gi, Labels: map[string]string{"zone": "y", "ssd": "1"}},
		{Name: "c", MemoryBudget: 4 * gi, MemoryEstimate: gi},
	}
	specs := []namespace.Spec{
		{Name: "s1", Node: "a", MemoryBytes: 3 * gi},
		{Name: "s2", Node: "b"},                     // counts as the estimate, 1Gi
		{Name: "s3", Node: "b", Deleting: true},     // not counted
		{Name: "s4", Node: "gone", MemoryBytes: gi}, // a dead node's: ignored
	}
	for _, tc := range []struct {
		req  Request
		want string
		err  string
	}{
		{Request{}, "b", ""}, // a: 5Gi free, b: 7Gi, c: 4Gi
		{Request{Node: "c"}, "c", ""},
		{Request{Selector: map[string]string{"zone": "x"}}, "a", ""},
		{Request{Selector: map[string]string{"zone": "y", "ssd": "1"}}, "b", ""},
		{Request{Node: "gone"}, "", `node "gone" is not alive or is draining (live nodes: a{zone=x}, b{ssd=1,zone=y}, c)`},
		{Request{Selector: map[string]string{"zone": "z"}}, "", "no live node has labels zone=z"},
		{Request{Node: "a", Selector: map[string]string{"zone": "y"}}, "", `node "a" is not alive or lacks labels zone=y`},
	} {
		got, err := Choose(nodes, specs, tc.req)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, store.ErrNoNode) {
				t.Errorf("Choose(%+v) = %q, %v; want error containing %q", tc.req, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Choose(%+v) = %q, %v; want %q", tc.req, got, err, tc.want)
		}
	}
	if _, err := Choose(nil, nil, Request{}); !errors.Is(err, store.ErrNoNode) {
		t.Errorf("no nodes: %v", err)
	}
	// Without a budget a node ranks first; ties go to fewer namespaces.
	got, _ := Choose([]store.Node{{Name: "a", MemoryBudget: 64 * gi}, {Name: "b"}}, nil, Request{})
	if got != "b" {
		t.Errorf("unbudgeted node not preferred: %q", got)
	}
	got, _ = Choose([]store.Node{{Name: "a"}, {Name: "b"}}, []namespace.Spec{{Name: "x", Node: "a"}}, Request{})
	if got != "b" {
		t.Errorf("tie not broken by namespace count: %q", got)
	}
	got, err := Choose([]store.Node{{Name: "a", Draining: true}, {Name: "b", MemoryBudget: 1}}, nil, Request{})
	if got != "b" || err != nil {
		t.Errorf("a draining node was chosen: %q %v", got, err)
	}
	if _, err := Choose([]store.Node{{Name: "a", Draining: true}}, nil, Request{Node: "a"}); err == nil || !strings.Contains(err.Error(), "a (draining)") {
		t.Errorf("--node naming a draining node: %v", err)
	}
}

func TestParseLabels(t *testing.T) {
	l, err := ParseLabels([]string{"zone=eu-1", " disk=ssd ", ""})
	if err != nil || len(l) != 2 || l["zone"] != "eu-1" || l["disk"] != "ssd" {
		t.Fatalf("ParseLabels = %v, %v", l, err)
	}
	for _, bad := range []string{"zone", "=x", "k=", "k=v w", "k=a,b", strings.Repeat("k", 64) + "=v"} {
		if _, err := ParseLabels([]string{bad}); err == nil {
			t.Errorf("ParseLabels(%q) accepted", bad)
		}
	}
	if _, err := ParseLabels([]string{"k=a", "k=b"}); err == nil {
		t.Error("a key given twice with two values was accepted")
	}
}

func freeURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir(), ClientURL: freeURL(t), PeerURL: freeURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// register keeps a node alive until the returned func is called.
func register(t *testing.T, st *store.Store, n store.Node) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := st.RegisterNode(ctx, n, time.Second); err != nil {
		t.Fatal(err)
	}
	return cancel
}

// Concurrent creates each see the ones committed before them: with two
// nodes of equal budget, 16 namespaces created at once split 8 and 8. A
// placement that chose on a stale view would pile them on one node.
func TestPlaceConcurrent(t *testing.T) {
	st := openStore(t)
	register(t, st, store.Node{Name: "a", MemoryBudget: 16 * gi, MemoryEstimate: gi})
	register(t, st, store.Node{Name: "b", MemoryBudget: 16 * gi, MemoryEstimate: gi})
	p := New(st)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Place(ctx, namespace.Spec{Name: fmt.Sprintf("ns-%d", i), CreatedAt: time.Now()}, Request{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	list, err := st.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ns := range list {
		count[ns.Spec.Node]++
	}
	if len(list) != 16 || count["a"] != 8 || count["b"] != 8 {
		t.Fatalf("16 concurrent placements: %d namespaces, per node %v; want 8 and 8", len(list), count)
	}
	// The same name twice: one namespace, on one node.
	_, err = p.Place(ctx, namespace.Spec{Name: "ns-3"}, Request{})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("placing an existing name: %v", err)
	}
}

func TestPlaceNodeGone(t *testing.T) {
	st := openStore(t)
	register(t, st, store.Node{Name: "a", MemoryBudget: 4 * gi, MemoryEstimate: gi})
	stopB := register(t, st, store.Node{Name: "b", MemoryBudget: 64 * gi, MemoryEstimate: gi, Labels: map[string]string{"big": "yes"}})
	p := New(st)
	ctx := context.Background()
	sp, err := p.Place(ctx, namespace.Spec{Name: "first"}, Request{Selector: map[string]string{"big": "yes"}})
	if err != nil || sp.Node != "b" {
		t.Fatalf("selector big=yes: %+v, %v", sp, err)
	}
	if got, err := st.GetNamespace(ctx, "first"); err != nil || got.Spec.Node != "b" {
		t.Fatalf("stored spec: %+v, %v", got.Spec, err)
	}
	// b stops renewing; once its lease expires nothing lands there.
	stopB()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nodes, err := st.ListNodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's lease did not expire: %v", nodes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err = p.Place(ctx, namespace.Spec{Name: "second"}, Request{Node: "b"})
	if !errors.Is(err, store.ErrNoNode) || !strings.Contains(err.Error(), `node "b" is not alive or is draining (live nodes: a)`) {
		t.Fatalf("placing on a dead node: %v", err)
	}
	if _, err := st.GetNamespace(ctx, "second"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused placement left a namespace: %v", err)
	}
	sp, err = p.Place(ctx, namespace.Spec{Name: "second"}, Request{})
	if err != nil || sp.Node != "a" {
		t.Fatalf("placing with b gone: %+v, %v", sp, err)
	}
}
