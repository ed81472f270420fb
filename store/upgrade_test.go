package store

import (
	"slices"
	"testing"

	"github.com/clawd-dev/clawd/namespace"
)

func TestKeepBehaviour(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	for _, name := range []string{"old", "chosen"} {
		if err := s.CreateNamespace(ctx, namespace.Spec{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetConfig(ctx, "namespaces.chosen.auth.requireKey", "true"); err != nil {
		t.Fatal(err)
	}
	pinned, err := s.KeepBehaviour(ctx, "m1", "auth.requireKey", "false")
	if err != nil || !slices.Equal(pinned, []string{"old"}) {
		t.Fatalf("pinned %v (%v), want [old]: chosen set its own value", pinned, err)
	}
	if v, _ := s.GetConfig(ctx, "namespaces.old.auth.requireKey"); v != "false" {
		t.Errorf("old's value %q, want the old behaviour pinned", v)
	}
	if v, _ := s.GetConfig(ctx, "namespaces.chosen.auth.requireKey"); v != "true" {
		t.Errorf("chosen's own value changed to %q", v)
	}
	// Once per cluster: a namespace made after it keeps the new default.
	if err := s.CreateNamespace(ctx, namespace.Spec{Name: "new"}); err != nil {
		t.Fatal(err)
	}
	if pinned, err := s.KeepBehaviour(ctx, "m1", "auth.requireKey", "false"); err != nil || len(pinned) != 0 {
		t.Errorf("second run pinned %v (%v)", pinned, err)
	}
	if _, err := s.GetConfig(ctx, "namespaces.new.auth.requireKey"); err == nil {
		t.Error("a namespace made after the upgrade was pinned")
	}
	// A value for every namespace already says what the operator wants.
	if err := s.SetConfig(ctx, "namespaces.*.auth.enabled", "x"); err != nil {
		t.Fatal(err)
	}
	if pinned, err := s.KeepBehaviour(ctx, "m2", "auth.enabled", "y"); err != nil || len(pinned) != 0 {
		t.Errorf("pinned %v (%v) over an every-namespace value", pinned, err)
	}
}
