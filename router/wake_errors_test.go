package router

import (
	"context"
	"errors"
	"io"
	"net/http"
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
