package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/auth"
	"github.com/clawd-dev/clawd/namespace"
)

// A login needs its namespace, follows it out, and is watched.
func TestLogins(t *testing.T) {
	s := newTestStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch := s.WatchLogins(ctx)
	next := func(want int) []auth.Login {
		t.Helper()
		for {
			select {
			case ls := <-watch:
				if len(ls) == want {
					return ls
				}
			case <-ctx.Done():
				t.Fatalf("no login list of %d", want)
			}
		}
	}
	next(0)
	l := auth.Login{Namespace: "acme", Provider: "oidc", ClientID: "c", SealedSecret: "v1:abc", CallbackURL: "https://acme.example/cb", Generation: "g"}
	if err := s.PutLogin(ctx, l); !errors.Is(err, ErrNotFound) {
		t.Fatalf("login of a missing namespace: %v, want ErrNotFound", err)
	}
	mustCreate(t, s, namespace.Spec{Name: "acme"})
	if err := s.PutLogin(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got := next(1); got[0].SealedSecret != "v1:abc" || got[0].Namespace != "acme" {
		t.Errorf("watched %+v", got)
	}
	if got, err := s.GetLogin(ctx, "acme"); err != nil || got.ClientID != "c" {
		t.Errorf("get: %+v %v", got, err)
	}
	if err := s.DeleteNamespace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	next(0)
	if _, err := s.GetLogin(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("login outlived its namespace: %v", err)
	}
	if err := s.DeleteLogin(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete missing: %v", err)
	}
}
