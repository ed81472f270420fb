package audit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/ledger"
)

func rec(ns, typ, action string, i int) Record {
	return Record{Namespace: ns, Time: time.Date(2026, 5, 1, 12, 0, i, 0, time.UTC), Type: typ, Actor: "admin-token",
		Action: action, Target: fmt.Sprintf("t%d", i), Outcome: OutcomeSuccess}
}

func TestCanonicalEncoding(t *testing.T) {
	r := Record{Namespace: "客户a", Seq: 3, Time: time.Date(2026, 5, 1, 0, 0, 0, 1500, time.UTC), Type: TypeConfigChange,
		Actor: "admin-token", Action: "PUT /api/v1/config/{key}", Target: "namespaces.a.models.primary", Outcome: "success",
		Before: `"gpt-4o"`, After: `"<b>"`, PrevHash: GenesisHash}
	want := hashDomain + `{"ns":"客户a","seq":3,"ts":1777593600000001,"type":"config_change","actor":"admin-token",` +
		`"action":"PUT /api/v1/config/{key}","target":"namespaces.a.models.primary","outcome":"success","detail":"",` +
		`"before":"\"gpt-4o\"","after":"\"\u003cb\u003e\"","prev":"` + GenesisHash + `"}`
	if got := string(r.Canonical()); got != want {
		t.Fatalf("canonical encoding\n got %s\nwant %s", got, want)
	}
	h := r.ComputeHash()
	for _, mut := range []func(*Record){
		func(r *Record) { r.Seq++ },
		func(r *Record) { r.Time = r.Time.Add(time.Microsecond) },
		func(r *Record) { r.After = "x" },
		func(r *Record) { r.PrevHash = strings.Repeat("1", 64) },
		func(r *Record) { r.Outcome = OutcomeFailure },
	} {
		c := r
		mut(&c)
		if c.ComputeHash() == h {
			t.Errorf("a changed record hashes the same: %+v", c)
		}
	}
}

func TestAuditChainVerify(t *testing.T) {
	eachBackend(t, func(t *testing.T, l *ledger.Ledger) {
		ctx := context.Background()
		g := New(l)
		a := &memAnchor{}
		w := NewWriter(g, WriterOptions{Anchor: a})
		for i := 1; i <= 10; i++ {
			w.Record(rec("a", TypeConfigChange, "set", i))
			w.Record(rec("b", TypeAPIKey, "create", i))
			if i%3 == 0 {
				if err := w.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, ns := range []string{"a", "b"} {
			v, err := Verify(ctx, g, a, ns)
			if err != nil || !v.OK || v.Records != 10 || v.Anchor == nil || v.Anchor.Seq != 10 {
				t.Fatalf("verify %s: %+v, %v", ns, v, err)
			}
		}
		got, err := g.Query(ctx, Query{Namespace: "a"})
		if err != nil || len(got) != 10 {
			t.Fatalf("query: %d records, %v", len(got), err)
		}
		for i, r := range got {
			if r.Seq != int64(i+1) || r.Target != fmt.Sprintf("t%d", i+1) {
				t.Fatalf("record %d: %+v", i, r)
			}
		}

		wdb, _ := l.DB()
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := wdb.Exec(l.Rebind(q), args...); err != nil {
				t.Fatal(err)
			}
		}
		// A changed row is named.
		exec(`UPDATE audit SET after_value = 'forged' WHERE namespace = 'a' AND seq = 4`)
		v, _ := Verify(ctx, g, a, "a")
		if v.OK || v.BrokenSeq != 4 || !strings.Contains(v.Reason, "changed") {
			t.Fatalf("changed record 4: %+v", v)
		}
		// A removed row in the middle is named.
		exec(`DELETE FROM audit WHERE namespace = 'b' AND seq = 6`)
		v, _ = Verify(ctx, g, a, "b")
		if v.OK || v.BrokenSeq != 6 || !strings.Contains(v.Reason, "missing") {
			t.Fatalf("removed record 6: %+v", v)
		}
		// Rows removed from the end: the anchor names the first.
		exec(`DELETE FROM audit WHERE namespace = 'b' AND seq >= 6`)
		v, _ = Verify(ctx, g, a, "b")
		if v.OK || v.BrokenSeq != 6 {
			t.Fatalf("removed tail: %+v", v)
		}
		// A chain recomputed after a change (hashes consistent) still
		// disagrees with the anchor.
		exec(`DELETE FROM audit WHERE namespace = 'a'`)
		var forged []Record
		for i := 1; i <= 10; i++ {
			forged = append(forged, rec("a", TypeConfigChange, "forged", i))
		}
		if _, err := g.Append(ctx, forged); err != nil {
			t.Fatal(err)
		}
		v, _ = Verify(ctx, g, a, "a")
		if v.OK || v.BrokenSeq != 10 || !strings.Contains(v.Reason, "anchored") {
			t.Fatalf("rewritten chain: %+v", v)
		}
	})
}

// An anchor behind the records (a crash after the commit, before the
// anchor write) verifies; no anchor at all verifies the chain alone.
func TestAuditAnchorBehind(t *testing.T) {
	eachBackend(t, func(t *testing.T, l *ledger.Ledger) {
		ctx := context.Background()
		g := New(l)
		a := &memAnchor{}
		w := NewWriter(g, WriterOptions{Anchor: a})
		for i := 1; i <= 3; i++ {
			w.Record(rec("", TypeAdmin, "x", i))
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := g.Append(ctx, []Record{rec("", TypeAdmin, "y", 4), rec("", TypeAdmin, "y", 5)}); err != nil {
			t.Fatal(err)
		}
		v, err := Verify(ctx, g, a, "")
		if err != nil || !v.OK || v.Records != 5 || v.Anchor.Seq != 3 {
			t.Fatalf("anchor behind: %+v, %v", v, err)
		}
		v, err = Verify(ctx, g, nil, "")
		if err != nil || !v.OK || v.Records != 5 {
			t.Fatalf("no anchor: %+v, %v", v, err)
		}
	})
}

// Concurrent recorders and flushes build one unbroken chain per namespace.
func TestAuditWriterConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, l *ledger.Ledger) {
		ctx, cancel := context.WithCancel(context.Background())
		g := New(l)
		a := &memAnchor{}
		w := NewWriter(g, WriterOptions{Anchor: a, FlushEvery: 5 * time.Millisecond,
			Filter: func(ns, typ string) bool { return typ != TypeAPICall }})
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		var wg sync.WaitGroup
		for p := 0; p < 4; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100; i++ {
					w.Record(rec(fmt.Sprintf("ns%d", i%3), TypeQuota, "refused", i))
					w.Record(rec("ns0", TypeAPICall, "filtered", i))
				}
			}()
		}
		wg.Wait()
		cancel()
		<-done
		var total int64
		for i := 0; i < 3; i++ {
			v, err := Verify(context.Background(), g, a, fmt.Sprintf("ns%d", i))
			if err != nil || !v.OK {
				t.Fatalf("verify: %+v, %v", v, err)
			}
			total += v.Records
		}
		if total != 400 {
			t.Fatalf("%d records, want 400", total)
		}
		got, _ := g.Query(context.Background(), Query{Namespace: "ns0", Types: []string{TypeAPICall}})
		if len(got) != 0 {
			t.Fatalf("the filter let %d api_call records through", len(got))
		}
	})
}

func TestAuditQuery(t *testing.T) {
	eachBackend(t, func(t *testing.T, l *ledger.Ledger) {
		ctx := context.Background()
		g := New(l)
		var recs []Record
		for i := 0; i < 6; i++ {
			typ := TypeAuth
			if i%2 == 1 {
				typ = TypeQuota
			}
			recs = append(recs, rec("n", typ, "a", i*10))
		}
		if _, err := g.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name             string
			start, end, typs string
			want             []int64
		}{
			{"all", "", "", "", []int64{1, 2, 3, 4, 5, 6}},
			{"type", "", "", "quota", []int64{2, 4, 6}},
			{"window", "2026-05-01T12:00:10Z", "2026-05-01T12:00:40Z", "", []int64{2, 3, 4}},
			{"window and type", "2026-05-01T12:00:10Z", "2026-05-01T12:00:40Z", "auth", []int64{3}},
			{"whole days", "2026-05-01", "2026-05-01", "all", []int64{1, 2, 3, 4, 5, 6}},
			{"day before", "2026-04-30", "2026-04-30", "", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				q, err := ParseQuery("n", tc.start, tc.end, tc.typs)
				if err != nil {
					t.Fatal(err)
				}
				got, err := g.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				var seqs []int64
				for _, r := range got {
					seqs = append(seqs, r.Seq)
				}
				if fmt.Sprint(seqs) != fmt.Sprint(tc.want) {
					t.Fatalf("seqs %v, want %v", seqs, tc.want)
				}
			})
		}
	})
}

func TestParseQueryErrors(t *testing.T) {
	for _, tc := range []struct{ start, end, types, want string }{
		{"yesterday", "", "", "--start"},
		{"", "2026-13-01", "", "--end"},
		{"2026-05-02", "2026-05-01", "", "not after"},
		{"", "", "api_call,bogus", "unknown event type"},
	} {
		if _, err := ParseQuery("n", tc.start, tc.end, tc.types); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseQuery(%q, %q, %q): %v, want %q", tc.start, tc.end, tc.types, err, tc.want)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	f.Add("2026-05-01", "2026-05-31T00:00:00Z", "api_call,auth")
	f.Add("", "", "all")
	f.Add("2026-05-01T00:00:00+08:00", "2026-05-01", ",quota,,quota")
	f.Fuzz(func(t *testing.T, start, end, types string) {
		q, err := ParseQuery("n", start, end, types)
		if err != nil {
			return
		}
		if !q.Start.IsZero() && !q.End.IsZero() && !q.End.After(q.Start) {
			t.Fatalf("accepted an empty window: %+v", q)
		}
		seen := map[string]bool{}
		for _, typ := range q.Types {
			if seen[typ] {
				t.Fatalf("duplicate type %q", typ)
			}
			seen[typ] = true
			if _, err := ParseTypes(typ); err != nil {
				t.Fatalf("accepted unknown type %q", typ)
			}
		}
	})
}
