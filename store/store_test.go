package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/hashicorp/go-hclog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// testEtcd is where a test's embedded server lives, so it can be reopened.
type testEtcd struct {
	dir, clientURL, peerURL string
}

// freeURL picks a free port. Tests of other packages run at the same time,
// so fixed ports would collide.
func freeURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("picking a free port: %v", err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

func newTestEtcd(t *testing.T) *testEtcd {
	return &testEtcd{dir: t.TempDir(), clientURL: freeURL(t), peerURL: freeURL(t)}
}

func testLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: os.Stderr})
}

// open starts the embedded server; a port taken between freeURL and the
// server's bind is retried with new ports.
func (te *testEtcd) open(t *testing.T) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		s, err := Open(ctx, Config{DataDir: te.dir, ClientURL: te.clientURL, PeerURL: te.peerURL, Logger: testLogger()})
		if err == nil {
			return s
		}
		if attempt < 3 && strings.Contains(err.Error(), "address already in use") {
			te.clientURL, te.peerURL = freeURL(t), freeURL(t)
			continue
		}
		t.Fatalf("opening store: %v", err)
	}
}

func newTestStore(t *testing.T) *Store {
	t.Helper()
	s := newTestEtcd(t).open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t *testing.T, s *Store, spec namespace.Spec) {
	t.Helper()
	if err := s.CreateNamespace(testCtx(t), spec); err != nil {
		t.Fatalf("creating %s: %v", spec.Name, err)
	}
}

func TestClusterID(t *testing.T) {
	t.Parallel()
	te := newTestEtcd(t)
	s := te.open(t)
	id := s.ClusterID()
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
		t.Fatalf("cluster id %q is not 128-bit hex", id)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("closing: %v", err)
	}

	s = te.open(t)
	defer s.Close()
	if got := s.ClusterID(); got != id {
		t.Errorf("reopened store has cluster id %s, want %s", got, id)
	}

	other := newTestStore(t)
	if other.ClusterID() == id {
		t.Errorf("two data dirs share cluster id %s", id)
	}

	t.Run("concurrent first starts agree", func(t *testing.T) {
		ctx := testCtx(t)
		if _, err := s.Client().Delete(ctx, keyClusterID); err != nil {
			t.Fatal(err)
		}
		ids := make([]string, 5)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				c, err := Open(ctx, Config{Endpoints: []string{te.clientURL}})
				if err != nil {
					t.Errorf("opening client %d: %v", i, err)
					return
				}
				defer c.Close()
				ids[i] = c.ClusterID()
			})
		}
		wg.Wait()
		for i, got := range ids {
			if got != ids[0] {
				t.Errorf("client %d has cluster id %s, client 0 has %s", i, got, ids[0])
			}
		}
	})
}

func TestCreateNamespaceConcurrent(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)

	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = s.CreateNamespace(ctx, namespace.Spec{Name: "race", Hostnames: []string{fmt.Sprintf("h%d.example", i)}})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, ErrExists):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1", won)
	}
	ns, err := s.GetNamespace(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	// Only the winner's hostname may exist: losers must leave nothing behind.
	for i := range errs {
		h := fmt.Sprintf("h%d.example", i)
		owner, err := s.LookupHostname(ctx, h)
		if h == ns.Spec.Hostnames[0] {
			if err != nil || owner != "race" {
				t.Errorf("winner's hostname %s: owner %q, err %v", h, owner, err)
			}
		} else if !errors.Is(err, ErrNotFound) {
			t.Errorf("loser's hostname %s: owner %q, err %v; want ErrNotFound", h, owner, err)
		}
	}
	if ns.Status.Phase != namespace.PhasePending || ns.Status.Since.IsZero() {
		t.Errorf("initial status = %+v, want Pending with a time", ns.Status)
	}
}

func TestHostnameConflict(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "alpha", Hostnames: []string{"a.example"}})

	err := s.CreateNamespace(ctx, namespace.Spec{Name: "beta", Hostnames: []string{"b.example", "A.Example."}})
	var taken *HostnameTakenError
	if !errors.As(err, &taken) {
		t.Fatalf("err = %v, want HostnameTakenError", err)
	}
	if taken.Hostname != "a.example" || taken.Owner != "alpha" {
		t.Errorf("taken = %+v", taken)
	}
	if want := `hostname "a.example" is already used by namespace "alpha"`; taken.Error() != want {
		t.Errorf("message %q, want %q", taken.Error(), want)
	}
	if _, err := s.GetNamespace(ctx, "beta"); !errors.Is(err, ErrNotFound) {
		t.Errorf("beta after failed create: err = %v, want ErrNotFound", err)
	}
	if _, err := s.LookupHostname(ctx, "b.example"); !errors.Is(err, ErrNotFound) {
		t.Errorf("b.example after failed create: err = %v, want ErrNotFound", err)
	}
	resp, err := s.Client().Get(ctx, statusKey("beta"))
	if err != nil || len(resp.Kvs) != 0 {
		t.Errorf("beta's status was left behind (err %v)", err)
	}
}

func TestUpdateSpec(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "counter", Hostnames: []string{"c.example"}})
	mustCreate(t, s, namespace.Spec{Name: "other", Hostnames: []string{"o.example"}})

	t.Run("concurrent increments all land", func(t *testing.T) {
		const workers, each = 10, 5
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					_, err := s.UpdateSpec(ctx, "counter", func(sp *namespace.Spec) error {
						sp.WakeGeneration++
						return nil
					})
					if err != nil {
						t.Errorf("update: %v", err)
					}
				}
			})
		}
		wg.Wait()
		ns, err := s.GetNamespace(ctx, "counter")
		if err != nil {
			t.Fatal(err)
		}
		if ns.Spec.WakeGeneration != workers*each {
			t.Errorf("counter = %d, want %d", ns.Spec.WakeGeneration, workers*each)
		}
	})

	t.Run("taken hostname refused", func(t *testing.T) {
		_, err := s.UpdateSpec(ctx, "counter", func(sp *namespace.Spec) error {
			sp.Hostnames = append(sp.Hostnames, "new.example", "o.example")
			return nil
		})
		var taken *HostnameTakenError
		if !errors.As(err, &taken) || taken.Owner != "other" {
			t.Fatalf("err = %v, want hostname taken by other", err)
		}
		if _, err := s.LookupHostname(ctx, "new.example"); !errors.Is(err, ErrNotFound) {
			t.Errorf("new.example written by a refused update (err %v)", err)
		}
	})

	t.Run("hostnames move", func(t *testing.T) {
		sp, err := s.UpdateSpec(ctx, "counter", func(sp *namespace.Spec) error {
			sp.Hostnames = []string{"d.example"}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(sp.Hostnames) != 1 || sp.Hostnames[0] != "d.example" {
			t.Errorf("returned spec hostnames = %v", sp.Hostnames)
		}
		if _, err := s.LookupHostname(ctx, "c.example"); !errors.Is(err, ErrNotFound) {
			t.Errorf("c.example still mapped (err %v)", err)
		}
		if owner, err := s.LookupHostname(ctx, "d.example"); err != nil || owner != "counter" {
			t.Errorf("d.example: owner %q, err %v", owner, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		boom := errors.New("boom")
		if _, err := s.UpdateSpec(ctx, "counter", func(*namespace.Spec) error { return boom }); !errors.Is(err, boom) {
			t.Errorf("fn error: got %v", err)
		}
		if _, err := s.UpdateSpec(ctx, "counter", func(sp *namespace.Spec) error { sp.Name = "x"; return nil }); err == nil {
			t.Error("renaming was accepted")
		}
		if _, err := s.UpdateSpec(ctx, "missing", func(*namespace.Spec) error { return nil }); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing namespace: got %v", err)
		}
	})
}

func TestGetAndListNamespaces(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "bravo"})
	mustCreate(t, s, namespace.Spec{Name: "alpha"})
	if err := s.PutStatus(ctx, "bravo", namespace.Status{Phase: namespace.PhaseRunning, Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// A namespace whose status was never written reads as Pending.
	if _, err := s.Client().Delete(ctx, statusKey("alpha")); err != nil {
		t.Fatal(err)
	}

	list, err := s.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Spec.Name != "alpha" || list[1].Spec.Name != "bravo" {
		t.Fatalf("list = %+v, want alpha, bravo", list)
	}
	if list[0].Status.Phase != namespace.PhasePending || list[1].Status.Phase != namespace.PhaseRunning {
		t.Errorf("phases = %s, %s; want Pending, Running", list[0].Status.Phase, list[1].Status.Phase)
	}
	if _, err := s.GetNamespace(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
}

func TestDeleteNamespace(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "gone", Hostnames: []string{"gone.example", "shared.example"}})
	// Simulate a hostname key that another namespace owns: delete must not touch it.
	if _, err := s.Client().Put(ctx, hostKey("shared.example"), "thief"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutStatus(ctx, "gone", namespace.Status{Phase: namespace.PhaseRunning}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNamespace(ctx, "gone"); err != nil {
		t.Fatal(err)
	}

	if err := s.PutStatus(ctx, "gone", namespace.Status{Phase: namespace.PhaseStopped}); !errors.Is(err, ErrNotFound) {
		t.Errorf("status after delete: err = %v, want ErrNotFound", err)
	}
	resp, err := s.Client().Get(ctx, nsPrefix, clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 0 {
		t.Errorf("keys left under %s: %v (err %v)", nsPrefix, resp.Kvs, err)
	}
	if _, err := s.LookupHostname(ctx, "gone.example"); !errors.Is(err, ErrNotFound) {
		t.Errorf("gone.example: %v", err)
	}
	if owner, err := s.LookupHostname(ctx, "shared.example"); err != nil || owner != "thief" {
		t.Errorf("another namespace's hostname was touched: owner %q err %v", owner, err)
	}
	if err := s.DeleteNamespace(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

// next reads one event (of namespaces or API keys) or fails the test after
// a timeout.
func next[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	var zero T
	return zero
}

func TestWatchNamespaces(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "before"})

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	ch := s.WatchNamespaces(wctx)

	ev := next(t, ch)
	if ev.Type != EventReset || len(ev.Snapshot) != 1 || ev.Snapshot[0].Spec.Name != "before" {
		t.Fatalf("first event = %+v, want Reset with [before]", ev)
	}

	mustCreate(t, s, namespace.Spec{Name: "w1", Hostnames: []string{"w1.example"}})
	ev = next(t, ch)
	// Spec and status arrive in one txn, so one Put already has the status.
	if ev.Type != EventPut || ev.Name != "w1" || ev.Namespace.Status.Phase != namespace.PhasePending || ev.Namespace.Status.Since.IsZero() {
		t.Fatalf("after create: %+v", ev)
	}

	if err := s.PutStatus(ctx, "w1", namespace.Status{Phase: namespace.PhaseRunning, Address: "10.0.0.2:18789"}); err != nil {
		t.Fatal(err)
	}
	ev = next(t, ch)
	if ev.Type != EventPut || ev.Name != "w1" || ev.Namespace.Status.Phase != namespace.PhaseRunning || len(ev.Namespace.Spec.Hostnames) != 1 {
		t.Fatalf("after status: %+v", ev)
	}

	// A status with no spec is not a namespace: no event.
	if _, err := s.Client().Put(ctx, statusKey("orphan"), `{"phase":"Running"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateSpec(ctx, "w1", func(sp *namespace.Spec) error { sp.Warmup = true; return nil }); err != nil {
		t.Fatal(err)
	}
	ev = next(t, ch)
	if ev.Type != EventPut || ev.Name != "w1" || !ev.Namespace.Spec.Warmup || ev.Namespace.Status.Phase != namespace.PhaseRunning {
		t.Fatalf("after spec update (orphan status must be skipped): %+v", ev)
	}

	if err := s.DeleteNamespace(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	ev = next(t, ch)
	if ev.Type != EventDelete || ev.Name != "w1" {
		t.Fatalf("after delete: %+v", ev)
	}

	stop()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("channel not closed after cancel")
		}
	}
}

// A watch that starts before the compacted revision must report
// ErrCompacted, which is what makes follow relist.
func TestWatchCompacted(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "one"})
	rev, _, err := s.list(ctx, nsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, namespace.Spec{Name: "two"})
	mustCreate(t, s, namespace.Spec{Name: "three"})
	latest, _, err := s.list(ctx, nsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Compact(ctx, latest); err != nil {
		t.Fatal(err)
	}
	_, err = s.watchFrom(ctx, nsPrefix, rev+1, func([]*clientv3.Event) bool { return true })
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("watch from compacted revision: err = %v, want ErrCompacted", err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	ch := s.WatchConfig(wctx)

	if err := s.SetConfig(ctx, "idle_timeout", "15m"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetConfig(ctx, "idle_timeout"); err != nil || v != "15m" {
		t.Errorf("get: %q, %v", v, err)
	}
	if _, err := s.GetConfig(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	// The consumer sleeps through 20 changes: it must then see the last one
	// first, not a queue of stale maps.
	for i := range 20 {
		if err := s.SetConfig(ctx, "counter", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	select {
	case m := <-ch:
		if m["counter"] != "19" || m["idle_timeout"] != "15m" {
			t.Fatalf("first map after burst = %v, want counter=19 idle_timeout=15m", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no config map")
	}

	all, err := s.ListConfig(ctx)
	if err != nil || len(all) != 2 {
		t.Errorf("list = %v, %v", all, err)
	}
	if err := s.DeleteConfig(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConfig(ctx, "counter"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	select {
	case m := <-ch:
		if _, ok := m["counter"]; ok || len(m) != 1 {
			t.Fatalf("map after delete = %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no config map after delete")
	}

	stop()
	for range ch {
	}
}

func TestRegisterNode(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)

	nctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := s.RegisterNode(nctx, Node{Name: "node-1", Address: "10.0.0.1:7070"}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.ListNodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Name != "node-1" || nodes[0].StartedAt.IsZero() {
		t.Fatalf("nodes = %+v, %v", nodes, err)
	}

	// The keepalive must outlive the TTL.
	time.Sleep(3 * time.Second)
	if nodes, err := s.ListNodes(ctx); err != nil || len(nodes) != 1 {
		t.Fatalf("after 3s: nodes = %+v, %v", nodes, err)
	}

	t.Run("lost lease is granted again", func(t *testing.T) {
		lease := nodeLease(t, s)
		if _, err := s.Client().Revoke(ctx, lease); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool {
			resp, err := s.Client().Get(ctx, nodeKey("node-1"))
			return err == nil && len(resp.Kvs) == 1 && clientv3.LeaseID(resp.Kvs[0].Lease) != lease
		})
	})

	cancel()
	start := time.Now()
	waitFor(t, 6*time.Second, func() bool {
		nodes, err := s.ListNodes(ctx)
		return err == nil && len(nodes) == 0
	})
	t.Logf("node gone %s after cancel", time.Since(start).Round(100*time.Millisecond))
}

func nodeLease(t *testing.T, s *Store) clientv3.LeaseID {
	t.Helper()
	resp, err := s.Client().Get(testCtx(t), nodeKey("node-1"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("node key: %v", err)
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
