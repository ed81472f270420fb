package billing

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/store"
)

var quotaFile = func() string {
	b, err := os.ReadFile("../configs/tenant-b-quota.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func TestConfigure(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rep, err := f.svc.Configure(ctx, ConfigureRequest{Provider: "stripe", APIKey: testKey, WebhookSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Provider != "stripe" {
		t.Errorf("reply %+v", rep)
	}
	if got := f.stripe.Calls(); !slices.Equal(got, []string{"GET /v1/balance"}) {
		t.Errorf("sent %v, want the key checked once", got)
	}
	raw, _, err := f.st.GetBilling(ctx, keySettings)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), testKey) || strings.Contains(string(raw), testSecret) {
		t.Fatalf("a secret is stored in plain text: %s", raw)
	}
	set, _, _ := getJSON[Settings](ctx, f.st, keySettings)
	if k, err := f.box.Open(set.SealedAPIKey, ctxAPIKey); err != nil || string(k) != testKey {
		t.Errorf("sealed key opens to %q, %v", k, err)
	}
	if k, err := f.box.Open(set.SealedAPIKey, ctxWebhookSecret); err == nil {
		t.Errorf("the API key opens as the webhook secret: %q", k)
	}

	t.Run("a key Stripe refuses", func(t *testing.T) {
		f.stripe.Reset()
		// stripe-mock refuses anything but a test-mode key, with its own message.
		_, err := f.svc.Configure(ctx, ConfigureRequest{Provider: "stripe", APIKey: "sk_live_nope", WebhookSecret: testSecret})
		var inv InvalidError
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), "Stripe: ") || !strings.Contains(err.Error(), "testmode secret API key") {
			t.Fatalf("refused key: %v; want Stripe's message as a caller error", err)
		}
		if n := len(f.stripe.Find("GET", "/v1/balance")); n != 1 {
			t.Errorf("key checks: %d", n)
		}
		set2, _, _ := getJSON[Settings](ctx, f.st, keySettings)
		if set2.SealedAPIKey != set.SealedAPIKey {
			t.Error("a refused key replaced the stored one")
		}
	})
	t.Run("bad input sends nothing", func(t *testing.T) {
		for _, req := range []ConfigureRequest{
			{Provider: "paypal", APIKey: testKey, WebhookSecret: testSecret},
			{Provider: "stripe", APIKey: "pk_test_publishable", WebhookSecret: testSecret},
			{Provider: "stripe", APIKey: testKey, WebhookSecret: "secret"},
		} {
			f.stripe.Reset()
			_, err := f.svc.Configure(ctx, req)
			if !errors.As(err, new(InvalidError)) {
				t.Errorf("%+v: %v", req, err)
			}
			if got := f.stripe.Calls(); len(got) != 0 {
				t.Errorf("%+v sent %v", req, got)
			}
		}
	})
}

func TestCreatePlan(t *testing.T) {
	ctx := context.Background()
	f := configured(t)
	p, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "basic", Price: "99.00", Currency: "USD", Interval: "month", Quotas: quotaFile})
	if err != nil {
		t.Fatal(err)
	}
	if p.Amount != 9900 || p.Currency != "usd" || p.ProductID == "" || p.PriceID == "" {
		t.Errorf("plan %+v", p)
	}
	if got := f.stripe.Calls(); !slices.Equal(got, []string{"POST /v1/products", "POST /v1/prices"}) {
		t.Fatalf("sent %v", got)
	}
	price := f.stripe.Find("POST", "/v1/prices")[0].Form
	for k, want := range map[string]string{"unit_amount": "9900", "currency": "usd", "recurring[interval]": "month", "product": p.ProductID} {
		if got := price.Get(k); got != want {
			t.Errorf("price %s=%q, want %q", k, got, want)
		}
	}

	t.Run("metered prices", func(t *testing.T) {
		f.stripe.Reset()
		p, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "pro", Price: "299", Currency: "eur", Interval: "year",
			Metered: map[string]string{"tokens": "0.50", "storage": "0.01"}})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"POST /v1/products", "POST /v1/prices",
			"GET /v1/billing/meters", "POST /v1/billing/meters", "POST /v1/prices", // storage: no such meter yet
			"GET /v1/billing/meters", "POST /v1/billing/meters", "POST /v1/prices"} // tokens
		if got := f.stripe.Calls(); !slices.Equal(got, want) {
			t.Fatalf("sent %v\nwant %v", got, want)
		}
		prices := f.stripe.Find("POST", "/v1/prices")
		storage, tokens := prices[1].Form, prices[2].Form
		if storage.Get("unit_amount_decimal") != "0.0009765625" || tokens.Get("unit_amount_decimal") != "0.05" ||
			tokens.Get("recurring[usage_type]") != "metered" || tokens.Get("recurring[meter]") == "" || tokens.Get("unit_amount") != "" {
			t.Errorf("metered prices sent: %v / %v", storage, tokens)
		}
		meters := f.stripe.Find("POST", "/v1/billing/meters")
		if meters[1].Form.Get("event_name") != "clawd_tokens" || meters[1].Form.Get("default_aggregation[formula]") != "sum" ||
			meters[1].Form.Get("customer_mapping[event_payload_key]") != "stripe_customer_id" {
			t.Errorf("meter sent: %v", meters[1].Form)
		}
		if len(p.Metered) != 2 || p.Metered[1].Kind != "tokens" || p.Metered[1].PriceID == "" || p.Metered[1].MeterID == "" {
			t.Errorf("plan %+v", p.Metered)
		}
		// A later plan reuses the meters clawd made.
		f.stripe.Reset()
		if _, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "max", Price: "1", Currency: "usd", Interval: "month", Metered: map[string]string{"tokens": "1"}}); err != nil {
			t.Fatal(err)
		}
		if got := f.stripe.Calls(); !slices.Equal(got, []string{"POST /v1/products", "POST /v1/prices", "POST /v1/prices"}) {
			t.Errorf("sent %v", got)
		}
	})

	t.Run("bad input sends nothing", func(t *testing.T) {
		for _, tc := range []struct {
			req PlanRequest
			err string
		}{
			{PlanRequest{Name: "x", Price: "-1", Currency: "usd", Interval: "month"}, "--price"},
			{PlanRequest{Name: "x", Price: "99.999", Currency: "usd", Interval: "month"}, "at most 2 decimals"},
			{PlanRequest{Name: "x", Price: "99", Currency: "usd$", Interval: "month"}, "--currency"},
			{PlanRequest{Name: "x", Price: "99", Currency: "usd", Interval: "fortnight"}, "--interval"},
			{PlanRequest{Name: "x", Price: "99", Currency: "usd", Interval: "month", Quotas: "namespace: a\nquotas: {compute: {cpu: lots}}"}, "--quotas"},
			{PlanRequest{Name: "x", Price: "99", Currency: "usd", Interval: "month", Metered: map[string]string{"bananas": "1"}}, "metered price"},
			{PlanRequest{Name: "x", Price: "99", Currency: "usd", Interval: "month", Metered: map[string]string{"tokens": "-2"}}, "price-per-1000-tokens"},
			{PlanRequest{Name: "Bad Name", Price: "99", Currency: "usd", Interval: "month"}, "plan name"},
		} {
			f.stripe.Reset()
			_, err := f.svc.CreatePlan(ctx, tc.req)
			if !errors.As(err, new(InvalidError)) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: %v, want an InvalidError with %q", tc.req, err, tc.err)
			}
			if got := f.stripe.Calls(); len(got) != 0 {
				t.Errorf("%+v sent %v", tc.req, got)
			}
		}
		f.stripe.Reset()
		_, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "basic", Price: "5", Currency: "usd", Interval: "month"})
		if !errors.Is(err, store.ErrExists) {
			t.Errorf("second plan basic: %v, want ErrExists", err)
		}
		if got := f.stripe.Calls(); len(got) != 0 {
			t.Errorf("a duplicate name sent %v", got)
		}
	})

	list, err := f.svc.ListPlans(ctx)
	if err != nil || len(list) != 3 || list[0].Name != "basic" || list[0].Quotas != quotaFile {
		t.Errorf("ListPlans: %+v, %v", list, err)
	}
}

func TestCreatePlanNotConfigured(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.CreatePlan(context.Background(), PlanRequest{Name: "basic", Price: "9", Currency: "usd", Interval: "month"})
	if !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("%v, want ErrNotConfigured", err)
	}
	if got := f.stripe.Calls(); len(got) != 0 {
		t.Errorf("sent %v", got)
	}
}

func TestSubscribe(t *testing.T) {
	ctx := context.Background()
	f := configured(t, "tenant-a")
	basic, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "basic", Price: "99.00", Currency: "usd", Interval: "month", Quotas: quotaFile})
	if err != nil {
		t.Fatal(err)
	}
	pro, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "pro", Price: "199.00", Currency: "usd", Interval: "month", Metered: map[string]string{"requests": "0.10"}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("bad input sends nothing", func(t *testing.T) {
		for _, tc := range []struct {
			ns   string
			req  SubscribeRequest
			want error
		}{
			{"tenant-x", SubscribeRequest{Plan: "basic"}, store.ErrNotFound},
			{"tenant-a", SubscribeRequest{Plan: "gold"}, store.ErrNotFound},
			{"Tenant A", SubscribeRequest{Plan: "basic"}, InvalidError{}},
			{"tenant-a", SubscribeRequest{Plan: "basic", PaymentMethod: "card_123"}, InvalidError{}},
		} {
			f.stripe.Reset()
			_, err := f.svc.Subscribe(ctx, tc.ns, tc.req)
			if inv, ok := tc.want.(InvalidError); ok {
				if !errors.As(err, &inv) {
					t.Errorf("%s %+v: %v, want InvalidError", tc.ns, tc.req, err)
				}
			} else if !errors.Is(err, tc.want) {
				t.Errorf("%s %+v: %v, want %v", tc.ns, tc.req, err, tc.want)
			}
			if got := f.stripe.Calls(); len(got) != 0 {
				t.Errorf("%s %+v sent %v", tc.ns, tc.req, got)
			}
		}
		if got := f.quotas.take(); len(got) != 0 {
			t.Errorf("quotas changed: %v", got)
		}
	})

	f.stripe.Reset()
	c, err := f.svc.Subscribe(ctx, "tenant-a", SubscribeRequest{Plan: "basic", PaymentMethod: "pm_card_visa"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /v1/customers", "POST /v1/payment_methods/pm_card_visa/attach", "POST /v1/customers/" + c.CustomerID, "POST /v1/subscriptions"}
	if got := f.stripe.Calls(); !slices.Equal(got, want) {
		t.Fatalf("sent %v\nwant %v", got, want)
	}
	reqs := f.stripe.Requests()
	if reqs[0].IdempotencyKey == "" || reqs[0].Form.Get("metadata[clawd_namespace]") != "tenant-a" {
		t.Errorf("customer create: key %q form %v", reqs[0].IdempotencyKey, reqs[0].Form)
	}
	if reqs[1].Form.Get("customer") != c.CustomerID || reqs[2].Form.Get("invoice_settings[default_payment_method]") != "pm_card_visa" {
		t.Errorf("payment method: %v / %v", reqs[1].Form, reqs[2].Form)
	}
	if reqs[3].Form.Get("customer") != c.CustomerID || reqs[3].Form.Get("items[0][price]") != basic.PriceID || reqs[3].Form.Has("items[1][price]") {
		t.Errorf("subscription: %v", reqs[3].Form)
	}
	if c.Plan != "basic" || c.SubscriptionID == "" || len(c.Items) == 0 {
		t.Errorf("customer %+v", c)
	}
	if got := f.quotas.take(); !slices.Equal(got, []string{"apply tenant-a namespace: tenant-b"}) {
		t.Errorf("quotas: %v", got)
	}

	t.Run("the same plan again changes nothing in Stripe", func(t *testing.T) {
		f.stripe.Reset()
		c2, err := f.svc.Subscribe(ctx, "tenant-a", SubscribeRequest{Plan: "basic"})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.stripe.Calls(); len(got) != 0 || c2.SubscriptionID != c.SubscriptionID {
			t.Fatalf("sent %v; customer %+v", got, c2)
		}
		if got := f.quotas.take(); !slices.Equal(got, []string{"apply tenant-a namespace: tenant-b"}) {
			t.Errorf("quotas: %v", got)
		}
	})

	t.Run("plan change swaps the items, same customer", func(t *testing.T) {
		f.stripe.Reset()
		c2, err := f.svc.Subscribe(ctx, "tenant-a", SubscribeRequest{Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.stripe.Calls(); !slices.Equal(got, []string{"POST /v1/subscriptions/" + c.SubscriptionID}) {
			t.Fatalf("sent %v", got)
		}
		form := f.stripe.Requests()[0].Form
		if form.Get("items[0][id]") != c.Items[0] || form.Get("items[0][deleted]") != "true" ||
			form.Get("items[1][price]") != pro.PriceID || form.Get("items[2][price]") != pro.Metered[0].PriceID {
			t.Errorf("update sent %v", form)
		}
		if c2.CustomerID != c.CustomerID || c2.Plan != "pro" || c2.PaymentMethod != "pm_card_visa" {
			t.Errorf("customer %+v", c2)
		}
		// pro has no quota file: the quotas go.
		if got := f.quotas.take(); !slices.Equal(got, []string{"clear tenant-a"}) {
			t.Errorf("quotas: %v", got)
		}
	})

	t.Run("invoices", func(t *testing.T) {
		f.stripe.Reset()
		list, err := f.svc.Invoices(ctx, "tenant-a", 12)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.stripe.Find("GET", "/v1/invoices"); len(got) != 1 || got[0].Form.Get("customer") != c.CustomerID || got[0].Form.Get("limit") != "12" {
			t.Fatalf("sent %+v", f.stripe.Requests())
		}
		if len(list) == 0 || list[0].ID == "" || list[0].Status == "" || list[0].Amount == "" {
			t.Errorf("invoices %+v", list)
		}
		f.stripe.Reset()
		if _, err := f.svc.Invoices(ctx, "tenant-b", 12); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a namespace without customer: %v", err)
		}
		if _, err := f.svc.Invoices(ctx, "tenant-a", 0); !errors.As(err, new(InvalidError)) {
			t.Errorf("limit 0: %v", err)
		}
		if got := f.stripe.Calls(); len(got) != 0 {
			t.Errorf("sent %v", got)
		}
	})

	t.Run("unsubscribe", func(t *testing.T) {
		f.stripe.Reset()
		c3, err := f.svc.Unsubscribe(ctx, "tenant-a")
		if err != nil {
			t.Fatal(err)
		}
		if got := f.stripe.Calls(); !slices.Equal(got, []string{"DELETE /v1/subscriptions/" + c.SubscriptionID}) {
			t.Fatalf("sent %v", got)
		}
		if c3.SubscriptionID != "" || c3.Plan != "" || c3.CustomerID != c.CustomerID {
			t.Errorf("customer %+v", c3)
		}
		if got := f.quotas.take(); !slices.Equal(got, []string{"clear tenant-a"}) {
			t.Errorf("quotas: %v", got)
		}
		f.stripe.Reset()
		if _, err := f.svc.Unsubscribe(ctx, "tenant-a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second unsubscribe: %v", err)
		}
		// Subscribing again keeps the customer: no second customer create.
		f.stripe.Reset()
		if _, err := f.svc.Subscribe(ctx, "tenant-a", SubscribeRequest{Plan: "basic"}); err != nil {
			t.Fatal(err)
		}
		if got := f.stripe.Calls(); !slices.Equal(got, []string{"POST /v1/subscriptions"}) {
			t.Errorf("sent %v", got)
		}
	})
}

// Customers lists what Subscribe and Unsubscribe left, by namespace.
func TestCustomers(t *testing.T) {
	ctx := context.Background()
	f := configured(t, "tenant-a", "tenant-b")
	if list, err := f.svc.Customers(ctx); err != nil || len(list) != 0 {
		t.Fatalf("before any subscription: %+v, %v", list, err)
	}
	if _, err := f.svc.CreatePlan(ctx, PlanRequest{Name: "basic", Price: "99.00", Currency: "usd", Interval: "month"}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"tenant-b", "tenant-a"} {
		if _, err := f.svc.Subscribe(ctx, ns, SubscribeRequest{Plan: "basic"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Unsubscribe(ctx, "tenant-b"); err != nil {
		t.Fatal(err)
	}
	f.stripe.Reset()
	list, err := f.svc.Customers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Namespace != "tenant-a" || list[0].Plan != "basic" || list[0].SubscriptionID == "" ||
		list[1].Namespace != "tenant-b" || list[1].SubscriptionID != "" {
		t.Fatalf("customers %+v", list)
	}
	if got := f.stripe.Calls(); len(got) != 0 {
		t.Errorf("listing customers sent %v to Stripe", got)
	}
}
