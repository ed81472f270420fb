package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/clawd-dev/clawd/runtime"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"unavailable", cerrdefs.ErrUnavailable, true},
		{"internal", fmt.Errorf("daemon: %w", cerrdefs.ErrInternal), true},
		{"not found", cerrdefs.ErrNotFound, false},
		{"conflict", cerrdefs.ErrConflict, false},
		{"invalid", cerrdefs.ErrInvalidArgument, false},
		{"deadline", context.DeadlineExceeded, false},
		{"canceled", fmt.Errorf("call: %w", context.Canceled), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transient(tt.err); got != tt.want {
				t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestDoRetriesTransientOnly(t *testing.T) {
	r := newRuntime(nil, Config{ClusterID: "c"})
	calls := 0
	err := r.do(context.Background(), func(context.Context) error {
		calls++
		if calls < 3 {
			return cerrdefs.ErrUnavailable
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("transient: err %v after %d calls", err, calls)
	}

	calls = 0
	err = r.do(context.Background(), func(context.Context) error {
		calls++
		return cerrdefs.ErrUnavailable
	})
	if !cerrdefs.IsUnavailable(err) || calls != retryAttempts {
		t.Fatalf("persistent: err %v after %d calls, want %d", err, calls, retryAttempts)
	}

	calls = 0
	err = r.do(context.Background(), func(context.Context) error {
		calls++
		return cerrdefs.ErrNotFound
	})
	if !cerrdefs.IsNotFound(err) || calls != 1 {
		t.Fatalf("permanent: err %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = r.do(ctx, func(context.Context) error { return cerrdefs.ErrUnavailable })
	if !errors.Is(err, context.Canceled) || !cerrdefs.IsUnavailable(err) {
		t.Fatalf("canceled: %v, want both the cancellation and the cause", err)
	}
}

func TestDoSetsDeadline(t *testing.T) {
	r := newRuntime(nil, Config{ClusterID: "c"})
	_ = r.do(context.Background(), func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("docker call without a deadline")
		}
		return nil
	})
}

func TestNotOwnedError(t *testing.T) {
	err := fmt.Errorf("creating: %w", &NotOwnedError{Kind: "container", Name: "clawd-x-acme", ID: "0123456789abcdef"})
	if !cerrdefs.IsConflict(err) {
		t.Error("not classified as a conflict")
	}
	if msg := err.Error(); !strings.Contains(msg, "container clawd-x-acme (0123456789ab)") || !strings.Contains(msg, "no clawd labels") {
		t.Errorf("message %q", msg)
	}
	other := &NotOwnedError{Kind: "volume", Name: "v", ID: "v", Cluster: "other"}
	if !strings.Contains(other.Error(), "belongs to clawd cluster other") {
		t.Errorf("message %q", other.Error())
	}
}

func TestNotFoundKeepsBoth(t *testing.T) {
	err := notFound(cerrdefs.ErrNotFound)
	if !errors.Is(err, runtime.ErrNotFound) || !cerrdefs.IsNotFound(err) {
		t.Errorf("%v loses a classification", err)
	}
}
