package billing

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/internal/stripetest"
	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/namespace"
)

// fakeHours serves roll-ups from memory, as ledger.Hours does.
type fakeHours struct {
	mu   sync.Mutex
	rows []ledger.Hour
}

func (f *fakeHours) Hours(_ context.Context, from, to time.Time) ([]ledger.Hour, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ledger.Hour
	for _, r := range f.rows {
		if !r.Hour.Before(from) && r.Hour.Before(to) {
			out = append(out, r)
		}
	}
	return out, nil
}

func meterEvents(p *stripetest.Proxy, ok bool) []stripetest.Request {
	var out []stripetest.Request
	for _, r := range p.Find("POST", "/v1/billing/meter_events") {
		if (r.Status < 300) == ok {
			out = append(out, r)
		}
	}
	return out
}

func identifiers(rs []stripetest.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Form.Get("identifier"))
	}
	slices.Sort(out)
	return out
}

func TestSendUsage(t *testing.T) {
	ctx := context.Background()
	f := configured(t, "tenant-a", "tenant-b", "tenant-c")
	t0 := f.clock.now() // configured at 12:00
	if _, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "metered", Price: "10", Currency: "usd", Interval: "month",
		Metered: map[string]string{"tokens": "0.50", "requests": "1.00"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "flat", Price: "10", Currency: "usd", Interval: "month"}); err != nil {
		t.Fatal(err)
	}
	ca, err := f.svc.Subscribe(ctx, "tenant-a", SubscribeRequest{Plan: "metered"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Subscribe(ctx, "tenant-c", SubscribeRequest{Plan: "flat"}); err != nil {
		t.Fatal(err)
	}
	hour := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	hours := &fakeHours{rows: []ledger.Hour{
		{Namespace: "tenant-a", Hour: hour(-1), APIRequests: 99}, // before billing was configured
		{Namespace: "tenant-a", Hour: hour(0), APIRequests: 7, InputTokens: 1000, OutputTokens: 234},
		{Namespace: "tenant-b", Hour: hour(0), APIRequests: 5}, // not subscribed
		{Namespace: "tenant-c", Hour: hour(0), APIRequests: 5}, // no metered price
		{Namespace: "tenant-a", Hour: hour(1), APIRequests: 3},
		{Namespace: "tenant-a", Hour: hour(2), InputTokens: 50},
		{Namespace: "tenant-a", Hour: hour(3), APIRequests: 1, InputTokens: 1},
	}}
	f.stripe.Reset()

	// 14:05: hour 13 is not settled yet, so only hour 12 goes.
	f.clock.set(hour(2).Add(5 * time.Minute))
	if err := f.svc.SendUsage(ctx, hours); err != nil {
		t.Fatal(err)
	}
	sent := meterEvents(f.stripe, true)
	want := []string{Identifier("tenant-a", hour(0), "requests"), Identifier("tenant-a", hour(0), "tokens")}
	if got := identifiers(sent); !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	for _, r := range sent {
		wantValue := "7"
		if strings.HasSuffix(r.Form.Get("identifier"), "-tokens") {
			wantValue = "1234"
			if r.Form.Get("event_name") != "clawd_tokens" {
				t.Errorf("event name %q", r.Form.Get("event_name"))
			}
		}
		if r.Form.Get("payload[value]") != wantValue || r.Form.Get("payload[stripe_customer_id]") != ca.CustomerID ||
			r.Form.Get("timestamp") != strconv.FormatInt(hour(0).Unix(), 10) {
			t.Errorf("meter event %v", r.Form)
		}
	}
	st, _ := f.svc.Status(ctx)
	if st.Usage.Sent != 2 || st.Usage.Behind != 0 || st.Usage.Next == nil || !st.Usage.Next.Equal(hour(1)) {
		t.Errorf("usage status %+v", st.Usage)
	}

	// 16:15: hours 13, 14 and 15 are due; Stripe fails on hour 14.
	f.clock.set(hour(4).Add(15 * time.Minute))
	failHour := strconv.FormatInt(hour(2).Unix(), 10)
	f.stripe.Fail(func(r stripetest.Request) int {
		if strings.Contains(r.Form.Get("identifier"), failHour) {
			return 500
		}
		return 0
	})
	if err := f.svc.SendUsage(ctx, hours); err == nil {
		t.Fatal("a failed send was not reported")
	}
	st, _ = f.svc.Status(ctx)
	if st.Usage.Failures != 1 || !strings.Contains(st.Usage.LastError, "tenant-a") || st.Usage.Behind != 2 || !st.Usage.Next.Equal(hour(2)) {
		t.Errorf("usage status after a failure %+v", st.Usage)
	}
	if n := len(meterEvents(f.stripe, false)); n == 0 {
		t.Fatal("no failed attempt recorded")
	}

	// A restart: a new service on the same store neither resends hour 13
	// nor skips hour 14.
	f.stripe.Fail(nil)
	svc2 := New(Config{Store: f.st, Secrets: f.box, Quotas: f.quotas, APIBase: f.stripe.URL, Node: "node-1",
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}), Now: f.clock.now})
	if err := svc2.SendUsage(ctx, hours); err != nil {
		t.Fatal(err)
	}
	want = []string{
		Identifier("tenant-a", hour(0), "requests"), Identifier("tenant-a", hour(0), "tokens"),
		Identifier("tenant-a", hour(1), "requests"),
		Identifier("tenant-a", hour(2), "tokens"),
		Identifier("tenant-a", hour(3), "requests"), Identifier("tenant-a", hour(3), "tokens"),
	}
	slices.Sort(want)
	if got := identifiers(meterEvents(f.stripe, true)); !slices.Equal(got, want) {
		t.Fatalf("accepted meter events over both runs:\n got %v\nwant %v", got, want)
	}
	// The failed hour's retry used the identifier of the failed attempt.
	for _, r := range meterEvents(f.stripe, false) {
		if !slices.Contains(want, r.Form.Get("identifier")) {
			t.Errorf("the retry changed the identifier %q", r.Form.Get("identifier"))
		}
	}
	st, _ = svc2.Status(ctx)
	if st.Usage.Failures != 0 || st.Usage.Behind != 0 || !st.Usage.Next.Equal(hour(4)) {
		t.Errorf("usage status after the retry %+v", st.Usage)
	}

	// Forty days later: what is older than Stripe's 35 days is skipped.
	hours.mu.Lock()
	late := hour(40 * 24)
	hours.rows = append(hours.rows,
		ledger.Hour{Namespace: "tenant-a", Hour: hour(5), APIRequests: 11},                        // 40 days old
		ledger.Hour{Namespace: "tenant-a", Hour: late.Add(-34 * 24 * time.Hour), APIRequests: 12}) // 34 days old
	hours.mu.Unlock()
	f.stripe.Reset()
	f.clock.set(late.Add(30 * time.Minute))
	if err := svc2.SendUsage(ctx, hours); err != nil {
		t.Fatal(err)
	}
	got := meterEvents(f.stripe, true)
	if len(got) != 1 || got[0].Form.Get("payload[value]") != "12" {
		t.Fatalf("after 40 days sent %v", got)
	}
	for _, r := range got {
		ts, _ := strconv.ParseInt(r.Form.Get("timestamp"), 10, 64)
		if f.clock.now().Sub(time.Unix(ts, 0)) > MeterWindow {
			t.Errorf("sent an event older than 35 days: %v", r.Form)
		}
	}
	st, _ = svc2.Status(ctx)
	if st.Usage.Skipped == 0 {
		t.Errorf("skipped hours not shown: %+v", st.Usage)
	}
}

func TestSendUsageNoLedger(t *testing.T) {
	f := configured(t, "tenant-a")
	if err := f.svc.SendUsage(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	st, _ := f.svc.Status(context.Background())
	if st.Usage.Ledger || st.Usage.Sent != 0 {
		t.Errorf("status %+v", st.Usage)
	}
	if got := f.stripe.Calls(); len(got) != 0 {
		t.Errorf("sent %v", got)
	}
}

// The real ledger (SQLite) feeding the sender: what Write recorded is what
// the meter events carry.
func TestSendUsageFromLedger(t *testing.T) {
	ctx := context.Background()
	f := configured(t, "tenant-a")
	t0 := f.clock.now()
	if _, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "metered", Price: "10", Currency: "usd", Interval: "month",
		Metered: map[string]string{"tokens": "0.50", "requests": "1", "storage": "0.10"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Subscribe(ctx, "tenant-a", SubscribeRequest{Plan: "metered"}); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, ledger.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.Write(ctx, []ledger.Event{
		{ID: "1", Time: t0.Add(time.Minute), Namespace: "tenant-a", Model: "openai/gpt-4o", Calls: 1, InputTokens: 100, OutputTokens: 20},
		{ID: "2", Time: t0.Add(2 * time.Minute), Namespace: "tenant-a", Model: "anthropic/claude", Calls: 1, InputTokens: 5, OutputTokens: 5},
		{ID: "3", Time: t0.Add(3 * time.Minute), Namespace: "tenant-a", APIRequests: 4, StorageBytes: 3 << 20},
		{ID: "4", Time: t0.Add(4 * time.Minute), Namespace: "tenant-a", StorageBytes: 5 << 20},
	}); err != nil {
		t.Fatal(err)
	}
	f.stripe.Reset()
	f.clock.set(t0.Add(75 * time.Minute))
	if err := f.svc.SendUsage(ctx, l); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range meterEvents(f.stripe, true) {
		got[r.Form.Get("event_name")] = r.Form.Get("payload[value]")
	}
	want := map[string]string{"clawd_tokens": "130", "clawd_requests": "4", "clawd_storage_mib_hours": "5"}
	if len(got) != len(want) {
		t.Fatalf("meter events %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestSendUsageLate: usage that reaches the ledger after its hour was sent
// is billed as the difference, once; a resend of the same correction
// carries the same identifier; a second late arrival gets its own.
func TestSendUsageLate(t *testing.T) {
	ctx := context.Background()
	f := configured(t, "tenant-a", "elsewhere")
	t0 := f.clock.now()
	if _, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "metered", Price: "10", Currency: "usd", Interval: "month",
		Metered: map[string]string{"tokens": "0.50", "requests": "1.00"}}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"tenant-a", "elsewhere"} {
		if _, err := f.svc.Subscribe(ctx, ns, SubscribeRequest{Plan: "metered"}); err != nil {
			t.Fatal(err)
		}
	}
	// "elsewhere" runs on node-2 at first: node-2 bills its hours.
	place := func(node string) {
		if _, err := f.st.UpdateSpec(ctx, "elsewhere", func(sp *namespace.Spec) error { sp.Node = node; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	place("node-2")
	hour := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	hours := &fakeHours{rows: []ledger.Hour{
		{Namespace: "tenant-a", Hour: hour(0), APIRequests: 7, InputTokens: 100},
		{Namespace: "elsewhere", Hour: hour(0), APIRequests: 3},
	}}
	f.stripe.Reset()
	f.clock.set(hour(1).Add(15 * time.Minute))
	if err := f.svc.SendUsage(ctx, hours); err != nil {
		t.Fatal(err)
	}
	if n := len(meterEvents(f.stripe, true)); n != 2 {
		t.Fatalf("first pass sent %d events, want 2", n)
	}

	// The ledger catches up: hour 12 gains 5 requests (tokens unchanged),
	// and hour 13, empty when it was sent, gets tokens.
	hours.mu.Lock()
	hours.rows[0].APIRequests = 12
	hours.rows[1].APIRequests = 30 // node-2's to correct, not this node's
	hours.rows = append(hours.rows, ledger.Hour{Namespace: "tenant-a", Hour: hour(1), InputTokens: 40})
	hours.mu.Unlock()
	place("node-1")                            // moved here after node-2 billed hour 12
	f.clock.set(hour(2).Add(15 * time.Minute)) // hour 13 is sent now, empty before
	if err := f.svc.SendUsage(ctx, hours); err != nil {
		t.Fatal(err)
	}
	values := func() map[string]string {
		out := map[string]string{}
		for _, r := range meterEvents(f.stripe, true) {
			out[r.Form.Get("identifier")] = r.Form.Get("payload[value]")
		}
		return out
	}
	late := Identifier("tenant-a", hour(0), "requests") + "-to-12"
	if got := values(); got[late] != "5" || got[Identifier("tenant-a", hour(1), "tokens")] != "40" || len(got) != 4 {
		t.Fatalf("after the ledger caught up sent %v; want the 5 late requests as %s and hour 13's 40 tokens", got, late)
	}

	// Nothing new: later passes send nothing more, even after a restart.
	f.clock.set(hour(2).Add(40 * time.Minute))
	svc2 := New(Config{Store: f.st, Secrets: f.box, Quotas: f.quotas, APIBase: f.stripe.URL, Node: "node-1",
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}), Now: f.clock.now})
	for _, svc := range []*Service{f.svc, svc2} {
		if err := svc.SendUsage(ctx, hours); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(meterEvents(f.stripe, true)); n != 4 {
		t.Fatalf("passes with nothing late sent more: %v", values())
	}
	st, _ := f.svc.Status(ctx)
	if st.Usage.Late != 1 {
		t.Errorf("status shows %d late events, want 1", st.Usage.Late)
	}

	// A second late arrival for the same hour: its own identifier, the
	// difference from what was sent in all.
	hours.mu.Lock()
	hours.rows[0].APIRequests = 13
	hours.mu.Unlock()
	f.clock.set(hour(3).Add(15 * time.Minute))
	if err := svc2.SendUsage(ctx, hours); err != nil {
		t.Fatal(err)
	}
	if got := values(); got[Identifier("tenant-a", hour(0), "requests")+"-to-13"] != "1" || len(got) != 5 {
		t.Fatalf("second late arrival: sent %v", got)
	}

	// Past the window, an hour is final: a change is not billed and its
	// record is forgotten.
	hours.mu.Lock()
	hours.rows[0].APIRequests = 99
	hours.mu.Unlock()
	f.clock.set(hour(0).Add(lateWindow + 3*time.Hour))
	if err := svc2.SendUsage(ctx, hours); err != nil {
		t.Fatal(err)
	}
	if got := values(); len(got) != 5 {
		t.Fatalf("a change older than %s was billed: %v", lateWindow, got)
	}
	recs, _ := f.st.ListBilling(ctx, prefixSent+"node-1/")
	if len(recs) == 0 {
		t.Error("no records of the hours inside the window")
	}
	for k := range recs {
		if unix, _ := strconv.ParseInt(k, 10, 64); f.clock.now().Sub(time.Unix(unix, 0)) > lateWindow+2*time.Hour {
			t.Errorf("the record of %s, older than the window, was kept", time.Unix(unix, 0).UTC())
		}
	}
}
