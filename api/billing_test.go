package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/billing"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// fakeBilling embeds the interface and answers what a test needs.
type fakeBilling struct {
	Billing
	webhook func(payload []byte, sig string) (billing.WebhookResult, error)
	plan    func(billing.PlanRequest) (billing.Plan, error)
}

func (f fakeBilling) HandleWebhook(_ context.Context, payload []byte, sig string) (billing.WebhookResult, error) {
	return f.webhook(payload, sig)
}

func (f fakeBilling) CreatePlan(_ context.Context, req billing.PlanRequest) (billing.Plan, error) {
	return f.plan(req)
}

func TestBillingWebhookIsPublic(t *testing.T) {
	var got string
	fb := fakeBilling{webhook: func(payload []byte, sig string) (billing.WebhookResult, error) {
		got = sig
		if sig != "t=1,v1=ok" {
			return billing.WebhookResult{}, billing.ErrSignature
		}
		return billing.WebhookResult{Event: "evt_1", Action: "marked past due"}, nil
	}}
	srv := New(Config{Token: adminToken, Billing: fb}, newMemStore(), nil)
	req := func(sig string) *http.Request {
		r, _ := http.NewRequest("POST", WebhookPath, strings.NewReader(`{"id":"evt_1"}`))
		r.Header.Set("Stripe-Signature", sig)
		return r
	}
	rec := serve(srv, req("t=1,v1=ok"))
	if rec.Code != http.StatusOK || got != "t=1,v1=ok" || !strings.Contains(rec.Body.String(), "marked past due") {
		t.Fatalf("signed webhook without an admin token: %d %s", rec.Code, rec.Body)
	}
	wantProblem(t, serve(srv, req("t=1,v1=bad")), http.StatusBadRequest, "signature")
}

func TestBillingErrorsMapToStatuses(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{billing.InvalidError{Err: errors.New("invalid --price \"-1\"")}, http.StatusBadRequest},
		{billing.InvalidError{Err: billing.StripeError{Op: "checking the API key", Err: errors.New("Invalid API Key provided")}}, http.StatusBadRequest},
		{billing.StripeError{Op: "creating the price", Err: errors.New("boom")}, http.StatusBadGateway},
		{billing.ErrNotConfigured, http.StatusConflict},
		{errors.New("plan basic " + store.ErrExists.Error()), http.StatusInternalServerError},
		{wrap(store.ErrExists), http.StatusConflict},
	} {
		fb := fakeBilling{plan: func(billing.PlanRequest) (billing.Plan, error) { return billing.Plan{}, tc.err }}
		srv := New(Config{Token: adminToken, Billing: fb}, newMemStore(), nil)
		rec := admin(t, srv, "POST", "/api/v1/billing/plans", `{"name":"basic","price":"1","currency":"usd","interval":"month"}`)
		if rec.Code != tc.code {
			t.Errorf("%v: status %d, want %d", tc.err, rec.Code, tc.code)
		}
	}
	srv := New(Config{Token: adminToken}, newMemStore(), nil)
	wantProblem(t, admin(t, srv, "GET", "/api/v1/billing/plans", ""), http.StatusConflict, "no billing")
}

func wrap(err error) error { return errors.Join(errors.New("plan basic"), err) }

// Billing applies a plan's quota file through the same code path as
// PUT …/quota: the same spec fields, the same validation.
func TestQuotaApplierMatchesApplyQuota(t *testing.T) {
	file, err := os.ReadFile("../configs/tenant-b-quota.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStore(namespace.Spec{Name: "tenant-a"}, namespace.Spec{Name: "tenant-b"})
	srv := New(Config{Token: adminToken}, st, nil)
	body, _ := jsonString(ApplyQuotaRequest{File: string(file)})
	if rec := admin(t, srv, "PUT", "/api/v1/namespaces/tenant-b/quota", body); rec.Code != http.StatusOK {
		t.Fatalf("apply-quota: %d %s", rec.Code, rec.Body)
	}
	ctx := context.Background()
	q := QuotaApplier{Store: st}
	if err := q.ApplyQuota(ctx, "tenant-a", file); err != nil {
		t.Fatal(err)
	}
	a, _ := st.GetNamespace(ctx, "tenant-a")
	b, _ := st.GetNamespace(ctx, "tenant-b")
	if a.Spec.CPUMillis != b.Spec.CPUMillis || a.Spec.MemoryBytes != b.Spec.MemoryBytes || a.Spec.MaxSkills != b.Spec.MaxSkills ||
		a.Spec.Quota == nil || b.Spec.Quota == nil || a.Spec.Quota.TokensPerDay != b.Spec.Quota.TokensPerDay || a.Spec.CPUMillis != 2000 {
		t.Fatalf("plan quotas %+v / %+v differ from apply-quota's %+v / %+v", a.Spec, a.Spec.Quota, b.Spec, b.Spec.Quota)
	}
	if err := q.ClearQuota(ctx, "tenant-a"); err != nil {
		t.Fatal(err)
	}
	a, _ = st.GetNamespace(ctx, "tenant-a")
	if a.Spec.CPUMillis != 0 || a.Spec.MemoryBytes != 0 || a.Spec.Quota != nil || a.Spec.MaxSkills != 0 {
		t.Fatalf("after ClearQuota: %+v", a.Spec)
	}
	if err := q.ApplyQuota(ctx, "tenant-a", []byte("namespace: x\nquotas: {compute: {memory: 1Mi}}\n")); err == nil {
		t.Fatal("a spec Validate refuses was applied")
	}
	if err := q.ApplyQuota(ctx, "nope", file); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown namespace: %v", err)
	}
}

// A namespace billing suspended is not woken by the API either.
func TestWakeRefusedWhileSuspended(t *testing.T) {
	st := newMemStore(namespace.Spec{Name: "tenant-a", Suspended: &namespace.Suspension{Reason: "payment overdue: invoice in_1"}})
	srv := New(Config{Token: adminToken}, st, nil)
	wantProblem(t, admin(t, srv, "POST", "/api/v1/namespaces/tenant-a/wake", ""), http.StatusConflict, "suspended", "in_1")
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func (f fakeBilling) Customers(context.Context) ([]billing.Customer, error) {
	return []billing.Customer{{Namespace: "tenant-a", CustomerID: "cus_1", Plan: "basic", SubscriptionID: "sub_1"}}, nil
}

func TestBillingSubscriptionsList(t *testing.T) {
	srv := New(Config{Token: adminToken, Billing: fakeBilling{}}, newMemStore(), nil)
	var list []billing.Customer
	rec := admin(t, srv, http.MethodGet, "/api/v1/billing/subscriptions", "")
	decodeInto(t, rec, &list)
	if rec.Code != 200 || len(list) != 1 || list[0].Plan != "basic" {
		t.Fatalf("%d %+v", rec.Code, list)
	}
	wantProblem(t, admin(t, New(Config{Token: adminToken}, newMemStore(), nil), http.MethodGet, "/api/v1/billing/subscriptions", ""), 409, "no billing")
}
