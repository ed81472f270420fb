package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/apikey"
	"github.com/clawd-dev/clawd/namespace"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func newKey(t *testing.T, ns string) (apikey.Key, string) {
	t.Helper()
	k, secret, err := apikey.New(ns, ns+"-production", "1000/hour", 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k, secret
}

func mustCreateKey(t *testing.T, s *Store, ns string) (apikey.Key, string) {
	t.Helper()
	k, secret := newKey(t, ns)
	if err := s.CreateAPIKey(testCtx(t), k); err != nil {
		t.Fatalf("creating key for %s: %v", ns, err)
	}
	return k, secret
}

func TestCreateAPIKey(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "tenant-a"})

	k, secret := mustCreateKey(t, s, "tenant-a")
	got, err := s.GetAPIKey(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.Hash != k.Hash || got.Namespace != "tenant-a" || got.RateLimit != "1000/hour" || !got.ExpiresAt.Equal(k.ExpiresAt) {
		t.Errorf("stored %+v, want %+v", got, k)
	}
	if found, err := s.FindAPIKey(ctx, apikey.Hash(secret)); err != nil || found.ID != k.ID {
		t.Errorf("find by hash: %+v, %v", found, err)
	}

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name string
			edit func(*apikey.Key)
			want error
			msg  string
		}{
			{"same id", func(c *apikey.Key) { c.ID = k.ID }, ErrExists, "id already exists"},
			{"same secret", func(c *apikey.Key) { c.Hash = k.Hash }, ErrExists, "same secret"},
			{"no namespace", func(c *apikey.Key) { c.Namespace = "nobody" }, ErrNotFound, "namespace nobody"},
			{"bad id", func(c *apikey.Key) { c.ID = "key_../../ns/x" }, nil, "invalid API key id"},
			{"bad hash", func(c *apikey.Key) { c.Hash = "/clawd/ns/spec/x" }, nil, "invalid API key hash"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := newKey(t, "tenant-a")
				tc.edit(&c)
				err := s.CreateAPIKey(ctx, c)
				if err == nil || !strings.Contains(err.Error(), tc.msg) || (tc.want != nil && !errors.Is(err, tc.want)) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
				}
			})
		}
	})

	if _, err := s.GetAPIKey(ctx, "key_0000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	if _, err := s.FindAPIKey(ctx, apikey.Hash("sk-nope")); !errors.Is(err, ErrNotFound) {
		t.Errorf("find missing: %v", err)
	}
}

// The store must hold nothing from which a key could be used: read every
// key and value clawd wrote and look for the secret.
func TestAPIKeySecretNotStored(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "tenant-a"})
	k, secret := mustCreateKey(t, s, "tenant-a")
	if _, err := s.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Client().Get(ctx, "", clientv3.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	random := secret[len("sk-tenant-a-"):]
	for _, kv := range resp.Kvs {
		for _, b := range [][]byte{kv.Key, kv.Value} {
			if strings.Contains(string(b), random[6:]) {
				t.Fatalf("etcd key %s holds the secret", kv.Key)
			}
		}
	}
}

func TestListAPIKeys(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "a"})
	mustCreate(t, s, namespace.Spec{Name: "b"})
	a1, _ := mustCreateKey(t, s, "a")
	b1, _ := mustCreateKey(t, s, "b")
	a2, _ := mustCreateKey(t, s, "a")

	for ns, want := range map[string][]string{"a": {a1.ID, a2.ID}, "b": {b1.ID}, "": {a1.ID, b1.ID, a2.ID}, "c": {}} {
		list, err := s.ListAPIKeys(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range list {
			ids = append(ids, k.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) && !(len(want) == 0 && len(ids) == 0) {
			t.Errorf("ListAPIKeys(%q) = %v, want %v", ns, ids, want)
		}
	}
}

func TestRevokeAndTouchAPIKey(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "a"})
	k, secret := mustCreateKey(t, s, "a")

	t1 := time.Now().UTC().Truncate(time.Second)
	if err := s.TouchAPIKey(ctx, k.ID, t1); err != nil {
		t.Fatal(err)
	}
	// An older use (another node's late batch) must not move it back.
	if err := s.TouchAPIKey(ctx, k.ID, t1.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetAPIKey(ctx, k.ID); !got.LastUsedAt.Equal(t1) {
		t.Errorf("last used %v, want %v", got.LastUsedAt, t1)
	}

	r, err := s.RevokeAPIKey(ctx, k.ID)
	if err != nil || r.RevokedAt.IsZero() || r.StateAt(time.Now()) != apikey.StateRevoked {
		t.Fatalf("revoke: %+v, %v", r, err)
	}
	again, err := s.RevokeAPIKey(ctx, k.ID)
	if err != nil || !again.RevokedAt.Equal(r.RevokedAt) {
		t.Errorf("second revoke: %+v, %v; want the first revocation time kept", again, err)
	}
	// The record stays for audit, reachable by its hash too.
	if got, err := s.FindAPIKey(ctx, apikey.Hash(secret)); err != nil || got.RevokedAt.IsZero() || !got.LastUsedAt.Equal(t1) {
		t.Errorf("after revoke: %+v, %v", got, err)
	}
	if _, err := s.RevokeAPIKey(ctx, "key_0000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke missing: %v", err)
	}
	if err := s.TouchAPIKey(ctx, "key_0000000000", t1); !errors.Is(err, ErrNotFound) {
		t.Errorf("touch missing: %v", err)
	}
}

func TestDeleteNamespaceDeletesItsKeys(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "gone", Hostnames: []string{"gone.example"}})
	mustCreate(t, s, namespace.Spec{Name: "stays"})
	// More keys than one txn may delete, so the batching runs too.
	for i := 0; i < maxKeysPerTxn+5; i++ {
		mustCreateKey(t, s, "gone")
	}
	kept, keptSecret := mustCreateKey(t, s, "stays")

	if err := s.DeleteNamespace(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListAPIKeys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != kept.ID {
		t.Fatalf("keys left: %+v, want only %s", all, kept.ID)
	}
	resp, err := s.Client().Get(ctx, apikeyHashPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != apikeyHashKey(apikey.Hash(keptSecret)) {
		t.Errorf("hash index left: %d entries", len(resp.Kvs))
	}
	// The namespace's own keys went with it.
	if r, err := s.Client().Get(ctx, nsPrefix, clientv3.WithPrefix()); err != nil || len(r.Kvs) != 2 {
		t.Errorf("namespace keys left: %d (err %v), want stays' spec and status", len(r.Kvs), err)
	}
}

// A key created between DeleteNamespace's read and its txn must not be
// left behind; and once the spec is gone no key can be created for it.
func TestCreateAPIKeyRacesNamespaceDelete(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	for round := 0; round < 5; round++ {
		ns := fmt.Sprintf("race-%d", round)
		mustCreate(t, s, namespace.Spec{Name: ns})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				k, _, err := apikey.New(ns, "", "", 0, time.Now())
				if err != nil {
					return
				}
				if err := s.CreateAPIKey(ctx, k); err != nil {
					return
				}
			}
		}()
		time.Sleep(20 * time.Millisecond)
		if err := s.DeleteNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		<-done
		if left, err := s.ListAPIKeys(ctx, ns); err != nil || len(left) != 0 {
			t.Fatalf("round %d: %d keys outlived their namespace (err %v)", round, len(left), err)
		}
	}
}

func TestWatchAPIKeys(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := testCtx(t)
	mustCreate(t, s, namespace.Spec{Name: "a"})
	before, _ := mustCreateKey(t, s, "a")

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	ch := s.WatchAPIKeys(wctx)
	ev := next(t, ch)
	if ev.Type != EventReset || len(ev.Snapshot) != 1 || ev.Snapshot[0].ID != before.ID {
		t.Fatalf("first event = %+v, want Reset with %s", ev, before.ID)
	}

	k, _ := mustCreateKey(t, s, "a")
	// The hash index is under another prefix: one Put, not two.
	if ev = next(t, ch); ev.Type != EventPut || ev.ID != k.ID || ev.Key.Hash != k.Hash {
		t.Fatalf("after create: %+v", ev)
	}
	if _, err := s.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if ev = next(t, ch); ev.Type != EventPut || ev.ID != k.ID || ev.Key.RevokedAt.IsZero() {
		t.Fatalf("after revoke: %+v", ev)
	}
	if err := s.DeleteNamespace(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{}
	for len(gone) < 2 {
		ev = next(t, ch)
		if ev.Type != EventDelete {
			t.Fatalf("after namespace delete: %+v", ev)
		}
		gone[ev.ID] = true
	}
	if !gone[before.ID] || !gone[k.ID] {
		t.Fatalf("deleted %v, want %s and %s", gone, before.ID, k.ID)
	}
}
