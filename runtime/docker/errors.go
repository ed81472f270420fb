package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// NotOwnedError reports a Docker object that carries one of our
// deterministic names but not this cluster's labels. clawd never adopts,
// changes or removes such an object; an operator has to.
type NotOwnedError struct {
	Kind string // "container", "network", "volume"
	Name string
	ID   string
	// Cluster is the object's io.clawd.cluster label, "" when it has none.
	Cluster string
}

func (e *NotOwnedError) Error() string {
	owner := "has no clawd labels"
	if e.Cluster != "" {
		owner = fmt.Sprintf("belongs to clawd cluster %s", e.Cluster)
	}
	return fmt.Sprintf("%s %s (%s) already exists and %s; remove or rename it", e.Kind, e.Name, shortID(e.ID), owner)
}

// Conflict classifies the error for errdefs.IsConflict (HTTP 409).
func (e *NotOwnedError) Conflict() {}

func (r *Runtime) notOwned(kind, name, id string, labels map[string]string) error {
	return &NotOwnedError{Kind: kind, Name: name, ID: id, Cluster: labels[runtime.LabelCluster]}
}

// notFound marks err so errors.Is(err, runtime.ErrNotFound) holds.
func notFound(err error) error {
	return fmt.Errorf("%w: %w", runtime.ErrNotFound, err)
}

// transient errors are worth retrying: the engine was unreachable or had a
// passing internal failure. Everything else (not found, conflicts, invalid
// requests, our own deadlines) is final for this call.
func transient(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case client.IsErrConnectionFailed(err):
		return true
	case cerrdefs.IsUnavailable(err), cerrdefs.IsInternal(err):
		return true
	}
	return false
}

// Retry bounds: a handful of attempts within a few seconds, so a caller's
// reconcile loop (which has its own backoff) gets the failure soon.
const (
	retryInitial  = 100 * time.Millisecond
	retryMax      = 2 * time.Second
	retryAttempts = 4
)

// do runs one Docker call with a CallTimeout deadline, retrying transient
// failures with capped exponential backoff.
func (r *Runtime) do(ctx context.Context, call func(ctx context.Context) error) error {
	return r.doTimeout(ctx, r.callTimeout, call)
}

// doTimeout is do with an explicit per-attempt deadline, for calls that wait
// (a stop waits up to its grace period).
func (r *Runtime) doTimeout(ctx context.Context, timeout time.Duration, call func(ctx context.Context) error) error {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(retryInitial),
		backoff.WithMaxInterval(retryMax),
		backoff.WithMaxElapsedTime(0),
	)
	var last error
	err := backoff.RetryNotify(func() error {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		last = call(cctx)
		if last != nil && !transient(last) {
			return backoff.Permanent(last)
		}
		return last
	}, backoff.WithContext(backoff.WithMaxRetries(b, retryAttempts-1), ctx), func(err error, wait time.Duration) {
		r.log.Debug("docker call failed; retrying", "wait", wait, "error", err)
	})
	// On cancellation the library returns only ctx.Err(); keep the cause.
	if err != nil && last != nil && !errors.Is(err, last) {
		return fmt.Errorf("%w (last error: %w)", err, last)
	}
	return err
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
