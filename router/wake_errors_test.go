package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
)

// failingWaker fails every wake with err, or waits for the deadline when
// err is nil.
type failingWaker struct{ err error }

func (f failingWaker) Wake(ctx context.Context, _ string) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	<-ctx.Done()
	return "", ctx.Err()
}

// failed is a wake error for a gateway that keeps failing.
type failed struct {
	reason string
	at     time.Time
}

func (f failed) Error() string        { return "gateway failed: " + f.reason }
func (f failed) TenantReason() string { return f.reason }
func (f failed) RetryAt() time.Time   { return f.at }

// A gateway that keeps failing is answered at once with why and when
// clawd tries again, never held until the wake timeout.
func TestWakeOfAFailedGatewaySaysWhyAndWhen(t *testing.T) {
	const reason = "killed by the kernel: out of memory (limit 64Mi, 3rd time today)"
	r := New(nil)
	// A wake timeout far beyond the client's: a held request fails the test.
	r.Lifecycle(failingWaker{err: fmt.Errorf("waking: %w", failed{reason, time.Now().Add(90 * time.Second)})}, nil, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx, obsWatcher{names: []namespace.Namespace{nsAt("a", namespace.PhaseFailed, "", "a.example")}})
	<-r.Ready()
	url := serveRouter(t, r, Limits{})
	req, _ := http.NewRequest("GET", url+"/", nil)
	req.Host = "a.example"
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), reason) ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d %s, want a 503 problem naming %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), reason, body)
	}
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 85 || ra > 90 {
		t.Errorf("Retry-After %q, want the ~90 s until the next try", resp.Header.Get("Retry-After"))
	}
}

// A tenant whose wake fails is told what to do, never the host's figures
// (those stay in the daemon's log).
func TestWakeErrorsSayWhatToDo(t *testing.T) {
	noRoom := errors.New("namespace a needs 1.0 GiB but only 200 MiB of the 4.0 GiB budget is free and nothing idle is left to stop: not enough memory")
	cases := []struct {
		name  string
		waker Waker
		want  string
	}{
		{"cannot start", failingWaker{err: noRoom}, "this namespace cannot start now; contact the operator"},
		{"still starting", failingWaker{}, "the gateway is starting; retry in a minute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New(nil)
			r.Lifecycle(tc.waker, nil, 100*time.Millisecond)
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			go r.Run(ctx, obsWatcher{names: []namespace.Namespace{nsAt("a", namespace.PhaseStopped, "", "a.example")}})
			<-r.Ready()
			url := serveRouter(t, r, Limits{})
			req, _ := http.NewRequest("GET", url+"/", nil)
			req.Host = "a.example"
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), tc.want) {
				t.Fatalf("status %d, want 503 saying %q: %s", resp.StatusCode, tc.want, body)
			}
			for _, leak := range []string{"GiB", "MiB", "budget", "memory"} {
				if strings.Contains(string(body), leak) {
					t.Fatalf("reply names %q: %s", leak, body)
				}
			}
		})
	}
}
