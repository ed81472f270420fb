package ledger

import (
	"context"
	"testing"
	"time"
)

func TestPurgeNamespaceRemovesOnlyItsOldRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		at := func(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, time.UTC) }
		mustWrite(t, l, []Event{
			{ID: "a-old", Time: at(1, 10, 5), Namespace: "a", APIRequests: 1},
			{ID: "a-edge", Time: at(3, 11, 59), Namespace: "a", APIRequests: 1}, // before the cut, hour not ended
			{ID: "a-new", Time: at(3, 12, 0), Namespace: "a", APIRequests: 1},
			{ID: "b-old", Time: at(1, 10, 5), Namespace: "b", APIRequests: 1},
		})
		count := func(ns string) (ev, hr, dy int64) {
			l.r.QueryRow(l.rebind(`SELECT count(*) FROM events WHERE namespace = ?`), ns).Scan(&ev)
			l.r.QueryRow(l.rebind(`SELECT count(*) FROM rollup_hourly WHERE namespace = ?`), ns).Scan(&hr)
			l.r.QueryRow(l.rebind(`SELECT count(*) FROM rollup_daily WHERE namespace = ?`), ns).Scan(&dy)
			return
		}
		cut := at(3, 12, 0)
		// Raw: a-old and a-edge. Hourly: May 1 10:00 only (May 3 11:00
		// ends at the cut: it goes too). Daily: May 1 (May 3 has not ended).
		want := PurgeResult{Events: 2, Hourly: 2, Daily: 1}
		dry, err := l.PurgeNamespace(context.Background(), "a", cut, true)
		if err != nil || dry != want {
			t.Fatalf("dry run = %+v, %v; want %+v", dry, err, want)
		}
		if ev, hr, dy := count("a"); ev != 3 || hr != 3 || dy != 2 {
			t.Fatalf("the dry run deleted rows: %d events, %d hourly, %d daily left", ev, hr, dy)
		}
		got, err := l.PurgeNamespace(context.Background(), "a", cut, false)
		if err != nil || got != want {
			t.Fatalf("purge = %+v, %v; want %+v", got, err, want)
		}
		if ev, hr, dy := count("a"); ev != 1 || hr != 1 || dy != 1 {
			t.Fatalf("after the purge: %d events, %d hourly, %d daily; want 1, 1, 1", ev, hr, dy)
		}
		if ev, hr, dy := count("b"); ev != 1 || hr != 1 || dy != 1 {
			t.Fatalf("another namespace lost rows: %d events, %d hourly, %d daily", ev, hr, dy)
		}
		again, err := l.PurgeNamespace(context.Background(), "a", cut, false)
		if err != nil || again.Rows() != 0 {
			t.Fatalf("second purge = %+v, %v; want nothing", again, err)
		}
	})
}
