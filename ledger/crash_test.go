package ledger

import (
	"bufio"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The child process of TestKill9LosesNoAcknowledgedEvent finds its ledger here.
const (
	crashChildDSN = "CLAWD_LEDGER_CRASH_CHILD_DSN"
	crashChildDir = "CLAWD_LEDGER_CRASH_CHILD_DIR"
)

// crashRound bounds the events a child adds between two flushes: what it
// may have added but not had acknowledged when killed.
const crashRound = 300

func crashEvent(i int) Event {
	return Event{
		ID:          "crash-" + strconv.Itoa(i),
		Time:        t0.Add(time.Duration(i) * 2 * time.Second), // across hours and days
		Namespace:   "ns-" + strconv.Itoa(i%3),
		Model:       models[i%3],
		APIRequests: 1,
		InputTokens: int64(i % 7),
	}
}

// TestCrashChild is the child: it adds events through a Writer (whose Run
// flushes every few ms too) and, after each Flush returns, prints
// "ACK n": events 0…n-1 are acknowledged. It runs until killed.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildDSN) == "" && os.Getenv(crashChildDir) == "" {
		t.Skip("the child process of TestKill9LosesNoAcknowledgedEvent")
	}
	ctx := context.Background()
	l, err := Open(ctx, Options{DSN: os.Getenv(crashChildDSN), Dir: os.Getenv(crashChildDir)})
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(l, WriterOptions{FlushEvery: 3 * time.Millisecond, MaxBatch: 250})
	go w.Run(ctx)
	r := mrand.New(mrand.NewPCG(uint64(os.Getpid()), 1))
	seq := 0
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end); {
		for range 1 + r.IntN(crashRound) {
			w.Add(crashEvent(seq))
			seq++
		}
		if err := w.Flush(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "flush:", err)
			continue
		}
		fmt.Printf("ACK %d\n", seq)
	}
}

func TestKill9LosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("a crash test: starts and kills a process")
	}
	eachBackend(t, func(t *testing.T, o Options) {
		open(t, o).Close() // the schema exists before the child starts
		r := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 2))
		acked := 0
		for round := range 3 { // killed three times, each child going on where the last was acknowledged
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v=false")
			cmd.Env = append(os.Environ(), crashChildDSN+"="+o.DSN, crashChildDir+"="+o.Dir)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killAfter := 20 + r.IntN(40) // acknowledgments
			sc := bufio.NewScanner(out)
			n, last := 0, 0
			killed := false
			for sc.Scan() {
				v, ok := strings.CutPrefix(sc.Text(), "ACK ")
				if !ok {
					continue
				}
				if last, err = strconv.Atoi(v); err != nil {
					t.Fatalf("child said %q", sc.Text())
				}
				if n++; n == killAfter && !killed {
					// Somewhere inside the next round's adds, flushes and commits.
					time.Sleep(time.Duration(r.IntN(4000)) * time.Microsecond)
					if err := cmd.Process.Kill(); err != nil { // SIGKILL
						t.Fatal(err)
					}
					killed = true
				}
			}
			cmd.Wait()
			if !killed {
				t.Fatalf("round %d: the child ended before it was killed (%d acknowledgments)", round, n)
			}
			// The child restarts from 0 each time: its acknowledged prefix is
			// the longest one seen.
			acked = max(acked, last)
			t.Logf("round %d: killed after %d flushes; events 0…%d acknowledged", round, n, last-1)
		}

		l := open(t, o)
		ids := map[string]bool{}
		rows, err := l.w.Query(`SELECT id FROM events`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids[id] = true
		}
		rows.Close()
		for i := range acked {
			if !ids["crash-"+strconv.Itoa(i)] {
				t.Fatalf("acknowledged event %d is missing after kill -9 (%d acknowledged, %d kept)", i, acked, len(ids))
			}
		}
		// Nothing counted twice: the roll-ups hold exactly the raw events.
		var requests int64
		if err := l.w.QueryRow(`SELECT CAST(COALESCE(SUM(api_requests), 0) AS BIGINT) FROM rollup_hourly`).Scan(&requests); err != nil {
			t.Fatal(err)
		}
		if requests != int64(len(ids)) {
			t.Fatalf("roll-ups count %d requests for %d events", requests, len(ids))
		}
		// Everything the children may have added, written again: only the
		// lost ones are new, and the report is exact.
		all := make([]Event, acked+crashRound)
		for i := range all {
			all[i] = crashEvent(i)
		}
		present := 0
		for i := range all {
			if ids[all[i].ID] {
				present++
			}
		}
		if n := mustWrite(t, l, all); n != len(all)-present {
			t.Fatalf("rewrite inserted %d, want %d", n, len(all)-present)
		}
		q := Query{Start: t0.AddDate(0, 0, -1), End: t0.AddDate(0, 1, 0)}
		sameUsage(t, mustReport(t, l, q), expected(all, q))
	})
}
