package billing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
)

// stripeEvent is a Stripe event body as Stripe sends it (the fields clawd
// reads and a few it does not).
func stripeEvent(id, typ string, created time.Time, object string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2025-09-30.clover","type":%q,"created":%d,"livemode":false,"pending_webhooks":1,"data":{"object":%s}}`,
		id, typ, created.Unix(), object))
}

func TestWebhooks(t *testing.T) {
	ctx := context.Background()
	f := configured(t, "tenant-a", "tenant-b")
	if _, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "basic", Price: "99.00", Currency: "usd", Interval: "month", Quotas: quotaFile}); err != nil {
		t.Fatal(err)
	}
	c, err := f.svc.Subscribe(ctx, "tenant-a", SubscribeRequest{Plan: "basic"})
	if err != nil {
		t.Fatal(err)
	}
	f.quotas.take()
	f.stripe.Reset()
	customer := c.CustomerID
	t0 := f.clock.now()
	deliver := func(t *testing.T, body []byte, sig string) (WebhookResult, error) {
		t.Helper()
		return f.svc.HandleWebhook(ctx, body, sig)
	}
	signed := func(body []byte) string { return Sign(body, testSecret, f.clock.now()) }
	invoice := fmt.Sprintf(`{"id":"in_1","object":"invoice","customer":%q,"subscription":%q,"status":"open"}`, customer, c.SubscriptionID)

	failed := stripeEvent("evt_failed", "invoice.payment_failed", t0, invoice)
	t.Run("refused: tampered, stale, unsigned", func(t *testing.T) {
		tampered := []byte(strings.Replace(string(failed), `"in_1"`, `"in_2"`, 1))
		for name, tc := range map[string]struct {
			body []byte
			sig  string
		}{
			"tampered":     {tampered, signed(failed)},
			"stale":        {failed, Sign(failed, testSecret, t0.Add(-10*time.Minute))},
			"unsigned":     {failed, ""},
			"wrong secret": {failed, Sign(failed, "whsec_guess", t0)},
		} {
			if _, err := deliver(t, tc.body, tc.sig); !errors.Is(err, ErrSignature) {
				t.Errorf("%s: %v, want ErrSignature", name, err)
			}
		}
		if cu, _, _ := getJSON[Customer](ctx, f.st, prefixCust+"tenant-a"); cu.PastDue != nil {
			t.Fatalf("a refused event marked the namespace past due: %+v", cu)
		}
	})

	res, err := deliver(t, failed, signed(failed))
	if err != nil {
		t.Fatal(err)
	}
	if res.Namespace != "tenant-a" || res.Action != "marked past due" || res.Duplicate {
		t.Fatalf("payment_failed: %+v", res)
	}
	cu, _, _ := getJSON[Customer](ctx, f.st, prefixCust+"tenant-a")
	if cu.PastDue == nil || cu.PastDue.Invoice != "in_1" || !cu.PastDue.Since.Equal(t0) {
		t.Fatalf("customer %+v", cu)
	}
	if sp := f.st.spec("tenant-a"); sp.Suspended != nil {
		t.Fatalf("suspended before the grace period ended: %+v", sp.Suspended)
	}

	t.Run("a replay is not applied again", func(t *testing.T) {
		// Same body and signature, within the tolerance.
		res, err := deliver(t, failed, signed(failed))
		if err != nil || !res.Duplicate {
			t.Fatalf("replay: %+v, %v", res, err)
		}
	})

	t.Run("grace period, then asleep with a reason", func(t *testing.T) {
		f.st.config["billing.gracePeriod"] = "48h"
		f.clock.set(t0.Add(47 * time.Hour))
		if err := f.svc.EnforcePastDue(ctx); err != nil {
			t.Fatal(err)
		}
		if sp := f.st.spec("tenant-a"); sp.Suspended != nil {
			t.Fatalf("suspended after 47 h of a 48 h grace: %+v", sp.Suspended)
		}
		f.clock.set(t0.Add(48 * time.Hour))
		if err := f.svc.EnforcePastDue(ctx); err != nil {
			t.Fatal(err)
		}
		sp := f.st.spec("tenant-a")
		if sp.Suspended == nil || !strings.Contains(sp.Suspended.Reason, "in_1") || sp.Target != namespace.PhaseStopped {
			t.Fatalf("spec after the grace period: %+v", sp)
		}
		if sp := f.st.spec("tenant-b"); sp.Suspended != nil {
			t.Fatal("another namespace was suspended")
		}
		st, err := f.svc.Status(ctx)
		if err != nil || !slices.Equal(st.PastDue, []string{"tenant-a"}) || !slices.Equal(st.Suspended, []string{"tenant-a"}) {
			t.Errorf("status %+v, %v", st, err)
		}
	})

	t.Run("an older event arriving late is ignored", func(t *testing.T) {
		old := stripeEvent("evt_old_paid", "invoice.paid", t0.Add(-time.Hour), invoice)
		res, err := deliver(t, old, signed(old))
		if err != nil || !strings.HasPrefix(res.Action, "none") {
			t.Fatalf("late event: %+v, %v", res, err)
		}
		if sp := f.st.spec("tenant-a"); sp.Suspended == nil {
			t.Fatal("an out-of-date invoice.paid lifted the suspension")
		}
	})

	t.Run("invoice.paid clears it", func(t *testing.T) {
		paid := stripeEvent("evt_paid", "invoice.paid", f.clock.now(), invoice)
		res, err := deliver(t, paid, signed(paid))
		if err != nil || res.Action != "past due cleared" {
			t.Fatalf("paid: %+v, %v", res, err)
		}
		cu, _, _ := getJSON[Customer](ctx, f.st, prefixCust+"tenant-a")
		if cu.PastDue != nil {
			t.Errorf("still past due: %+v", cu.PastDue)
		}
		if sp := f.st.spec("tenant-a"); sp.Suspended != nil {
			t.Errorf("still suspended: %+v", sp.Suspended)
		}
		want := []string{"tenant-a stripe:invoice.payment_failed", "tenant-a suspended", "tenant-a unsuspended", "tenant-a stripe:invoice.paid"}
		if got := f.audit.take(); !slices.Equal(got, want) {
			t.Errorf("audited %q, want %q", got, want)
		}
	})

	t.Run("a suspension billing did not make stays", func(t *testing.T) {
		f.st.UpdateSpec(ctx, "tenant-a", func(sp *namespace.Spec) error {
			sp.Suspended = &namespace.Suspension{Reason: "abuse report"}
			return nil
		})
		paid := stripeEvent("evt_paid2", "invoice.paid", f.clock.now().Add(time.Second), invoice)
		if _, err := deliver(t, paid, signed(paid)); err != nil {
			t.Fatal(err)
		}
		if sp := f.st.spec("tenant-a"); sp.Suspended == nil {
			t.Error("billing lifted an operator's suspension")
		}
		f.st.UpdateSpec(ctx, "tenant-a", func(sp *namespace.Spec) error { sp.Suspended = nil; return nil })
	})

	t.Run("grace 0 suspends at once", func(t *testing.T) {
		f.st.config["billing.gracePeriod"] = "0s"
		inv2 := strings.Replace(invoice, `"in_1"`, `"in_9"`, 1)
		ev := stripeEvent("evt_failed2", "invoice.payment_failed", f.clock.now().Add(2*time.Second), inv2)
		if _, err := deliver(t, ev, signed(ev)); err != nil {
			t.Fatal(err)
		}
		if sp := f.st.spec("tenant-a"); sp.Suspended == nil || !strings.Contains(sp.Suspended.Reason, "in_9") {
			t.Fatalf("not suspended at once: %+v", sp.Suspended)
		}
	})

	t.Run("an operator resumes a suspended namespace", func(t *testing.T) {
		f.audit.take()
		if _, err := f.svc.Resume(ctx, "tenant-b"); !errors.As(err, new(InvalidError)) {
			t.Errorf("resuming a namespace that owes nothing: %v, want an InvalidError", err)
		}
		if _, err := f.svc.Resume(ctx, "tenant-a"); err != nil {
			t.Fatal(err)
		}
		if sp := f.st.spec("tenant-a"); sp.Suspended != nil {
			t.Fatalf("still suspended: %+v", sp.Suspended)
		}
		if cu, _, _ := getJSON[Customer](ctx, f.st, prefixCust+"tenant-a"); cu.PastDue != nil {
			t.Fatalf("still past due: %+v", cu.PastDue)
		}
		// The next pass does not suspend it again.
		if err := f.svc.EnforcePastDue(ctx); err != nil {
			t.Fatal(err)
		}
		if sp := f.st.spec("tenant-a"); sp.Suspended != nil {
			t.Fatalf("suspended again by the next pass: %+v", sp.Suspended)
		}
		if got := f.audit.take(); !slices.Equal(got, []string{"tenant-a unsuspended"}) {
			t.Errorf("audited %q", got)
		}
	})

	t.Run("customer.subscription.deleted removes the plan's quotas", func(t *testing.T) {
		other := stripeEvent("evt_del_other", "customer.subscription.deleted", f.clock.now(), fmt.Sprintf(`{"id":"sub_other","object":"subscription","customer":%q}`, customer))
		if _, err := deliver(t, other, signed(other)); err != nil {
			t.Fatal(err)
		}
		if got := f.quotas.take(); len(got) != 0 {
			t.Errorf("another subscription's end changed quotas: %v", got)
		}
		del := stripeEvent("evt_del", "customer.subscription.deleted", f.clock.now(), fmt.Sprintf(`{"id":%q,"object":"subscription","customer":%q}`, c.SubscriptionID, customer))
		res, err := deliver(t, del, signed(del))
		if err != nil || res.Namespace != "tenant-a" {
			t.Fatalf("deleted: %+v, %v", res, err)
		}
		if got := f.quotas.take(); !slices.Equal(got, []string{"clear tenant-a"}) {
			t.Errorf("quotas: %v", got)
		}
		cu, _, _ := getJSON[Customer](ctx, f.st, prefixCust+"tenant-a")
		if cu.SubscriptionID != "" || cu.Plan != "" {
			t.Errorf("customer %+v", cu)
		}
	})

	t.Run("unknown customers and event types are acknowledged, not applied", func(t *testing.T) {
		for _, ev := range [][]byte{
			stripeEvent("evt_x1", "invoice.payment_failed", f.clock.now(), `{"id":"in_x","customer":"cus_nobody"}`),
			stripeEvent("evt_x2", "charge.succeeded", f.clock.now(), `{"id":"ch_1"}`),
		} {
			res, err := deliver(t, ev, signed(ev))
			if err != nil || !strings.HasPrefix(res.Action, "none") {
				t.Errorf("%s: %+v, %v", ev, res, err)
			}
		}
	})

	if got := f.stripe.Calls(); len(got) != 0 {
		t.Errorf("webhooks sent %v to Stripe", got)
	}
}

func TestWebhookEventIDRecordedAfterTheEffect(t *testing.T) {
	ctx := context.Background()
	f := configured(t, "tenant-a")
	if _, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "basic", Price: "9", Currency: "usd", Interval: "month"}); err != nil {
		t.Fatal(err)
	}
	c, err := f.svc.Subscribe(ctx, "tenant-a", SubscribeRequest{Plan: "basic"})
	if err != nil {
		t.Fatal(err)
	}
	ev := stripeEvent("evt_1", "invoice.payment_failed", f.clock.now(), fmt.Sprintf(`{"id":"in_1","customer":%q}`, c.CustomerID))
	// The customer write fails: the event is not remembered, so Stripe's
	// retry applies it.
	f.st.failPut = prefixCust
	if _, err := f.svc.HandleWebhook(ctx, ev, Sign(ev, testSecret, f.clock.now())); err == nil {
		t.Fatal("a failed write was acknowledged")
	}
	f.st.failPut = ""
	res, err := f.svc.HandleWebhook(ctx, ev, Sign(ev, testSecret, f.clock.now()))
	if err != nil || res.Duplicate || res.Action != "marked past due" {
		t.Fatalf("retry: %+v, %v", res, err)
	}
}
