package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/billing"
	"github.com/clawd-dev/clawd/internal/stripetest"
)

const (
	itStripeKey    = "sk_test_clawdit"
	itStripeSecret = "whsec_clawd_it"
)

// The real `clawd up` and CLI against stripe-mock behind a recording
// proxy: every Stripe call clawd makes is validated by stripe-mock, and the
// recording shows what was sent (stripe-mock keeps no state).
func TestBillingEndToEnd(t *testing.T) {
	stripe := stripetest.Start(t)
	d := startDaemon(t, "--billing.stripe.apiBase="+stripe.URL)
	quotaFile := filepath.Join(repoRoot, "configs", "tenant-b-quota.yaml")

	oneLine := func(t *testing.T, want string, args ...string) {
		t.Helper()
		out, errOut, err := d.clawd(args...)
		if err == nil {
			t.Fatalf("clawd %s: exit 0; stdout %q", strings.Join(args, " "), out)
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "clawd: ") || !strings.Contains(lines[0], want) {
			t.Fatalf("clawd %s: stderr %q, want one line 'clawd: …%s…'", strings.Join(args, " "), errOut, want)
		}
	}

	// A key Stripe refuses is refused with Stripe's message (stripe-mock's
	// own: it takes test-mode keys only).
	oneLine(t, "testmode secret API key", "billing", "configure", "--provider=stripe", "--api-key=sk_live_nope", "--webhook-secret="+itStripeSecret)
	oneLine(t, "billing is not configured", "billing", "plan", "create", "--name=basic", "--price=99.00", "--currency=USD", "--interval=month")
	d.mustClawd("billing", "configure", "--provider=stripe", "--api-key="+itStripeKey, "--webhook-secret="+itStripeSecret)
	if got := stripe.Calls(); !slices.Equal(got, []string{"GET /v1/balance", "GET /v1/balance"}) {
		t.Fatalf("configure sent %v", got)
	}

	d.mustClawd("namespace", "create", "tenant-a", "--hostname=tenant-a.localhost")
	d.waitPhase("tenant-a", "Running", 2*time.Minute)

	stripe.Reset()
	d.mustClawd("billing", "plan", "create", "--name=basic", "--price=99.00", "--currency=USD", "--interval=month", "--quotas=@"+quotaFile)
	if got := stripe.Calls(); !slices.Equal(got, []string{"POST /v1/products", "POST /v1/prices"}) {
		t.Fatalf("plan create sent %v", got)
	}
	if f := stripe.Find("POST", "/v1/prices")[0].Form; f.Get("unit_amount") != "9900" || f.Get("currency") != "usd" || f.Get("recurring[interval]") != "month" {
		t.Fatalf("price sent %v", f)
	}
	d.mustClawd("billing", "plan", "create", "--name=pro", "--price=299", "--currency=eur", "--interval=year", "--price-per-1k-tokens=0.50")
	var plans []billing.Plan
	if err := json.Unmarshal([]byte(d.mustClawd("billing", "plan", "list", "-o", "json")), &plans); err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 || plans[0].Name != "basic" || plans[0].Amount != 9900 || plans[1].Metered[0].UnitAmountDecimal != "0.05" {
		t.Fatalf("plan list: %+v", plans)
	}

	t.Run("bad input: one line, non-zero exit, nothing sent to Stripe", func(t *testing.T) {
		stripe.Reset()
		for _, tc := range []struct {
			want string
			args []string
		}{
			{"--price", []string{"billing", "plan", "create", "--name=x", "--price=-1", "--currency=USD", "--interval=month"}},
			{"at most 2 decimals", []string{"billing", "plan", "create", "--name=x", "--price=99.999", "--currency=USD", "--interval=month"}},
			{"--currency", []string{"billing", "plan", "create", "--name=x", "--price=99", "--currency=usd$", "--interval=month"}},
			{"--interval", []string{"billing", "plan", "create", "--name=x", "--price=99", "--currency=USD", "--interval=fortnight"}},
			{"--quotas", []string{"billing", "plan", "create", "--name=x", "--price=99", "--currency=USD", "--interval=month", "--quotas=@/nonexistent.yaml"}},
			{"exists", []string{"billing", "plan", "create", "--name=basic", "--price=1", "--currency=USD", "--interval=month"}},
			{"plan gold", []string{"billing", "subscribe", "tenant-a", "--plan=gold"}},
			{"namespace tenant-z", []string{"billing", "subscribe", "tenant-z", "--plan=basic"}},
			{"invalid --payment-method", []string{"billing", "subscribe", "tenant-a", "--plan=basic", "--payment-method=card_1"}},
			{"no subscription", []string{"billing", "unsubscribe", "tenant-a"}},
			{"no billing customer", []string{"billing", "invoices", "tenant-a"}},
			{"--limit", []string{"billing", "invoices", "tenant-a", "--limit=0"}},
		} {
			oneLine(t, tc.want, tc.args...)
		}
		// The daemon refuses the same input when a client skips the CLI's checks.
		rec := adminPost(t, d, "POST", "/api/v1/billing/plans", `{"name":"x","price":"99.999","currency":"usd","interval":"month"}`)
		if rec != http.StatusBadRequest {
			t.Errorf("API plan with 99.999: %d", rec)
		}
		if got := stripe.Calls(); len(got) != 0 {
			t.Fatalf("bad input sent %v to Stripe", got)
		}
	})

	stripe.Reset()
	out := d.mustClawd("billing", "subscribe", "tenant-a", "--plan=basic", "--payment-method=pm_card_visa")
	m := regexp.MustCompile(`customer (cus_\w+), subscription (sub_\w+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("subscribe said %q", out)
	}
	customer, sub := m[1], m[2]
	want := []string{"POST /v1/customers", "POST /v1/payment_methods/pm_card_visa/attach", "POST /v1/customers/" + customer, "POST /v1/subscriptions"}
	if got := stripe.Calls(); !slices.Equal(got, want) {
		t.Fatalf("subscribe sent %v\nwant %v", got, want)
	}
	var qs struct {
		Quotas map[string]struct{ Limit int64 } `json:"quotas"`
	}
	if err := json.Unmarshal([]byte(d.mustClawd("namespace", "quota-status", "tenant-a", "-o", "json")), &qs); err != nil {
		t.Fatal(err)
	}
	if qs.Quotas["api.tokensPerDay"].Limit != 200000 || qs.Quotas["compute.cpu"].Limit != 2000 {
		t.Fatalf("the plan's quotas did not apply: %+v", qs.Quotas)
	}

	stripe.Reset()
	var invoices []billing.Invoice
	if err := json.Unmarshal([]byte(d.mustClawd("billing", "invoices", "tenant-a", "--limit=12", "-o", "json")), &invoices); err != nil {
		t.Fatal(err)
	}
	if got := stripe.Find("GET", "/v1/invoices"); len(got) != 1 || got[0].Form.Get("customer") != customer || got[0].Form.Get("limit") != "12" {
		t.Fatalf("invoices sent %+v", stripe.Requests())
	}
	if len(invoices) == 0 || invoices[0].Status == "" {
		t.Fatalf("invoices %+v", invoices)
	}
	if table := d.mustClawd("billing", "invoices", "tenant-a"); !strings.HasPrefix(table, "NUMBER") {
		t.Errorf("invoices table %q", table)
	}

	// Webhooks: public path, signed by the real algorithm.
	d.mustClawd("config", "set", "billing.gracePeriod", "0s")
	hook := func(body []byte, sig string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+d.apiAddr+"/api/v1/billing/stripe/webhook", strings.NewReader(string(body)))
		req.Header.Set("Stripe-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, readAll(resp)
	}
	event := func(id, typ string, created time.Time, object string) []byte {
		return []byte(fmt.Sprintf(`{"id":%q,"object":"event","type":%q,"created":%d,"data":{"object":%s}}`, id, typ, created.Unix(), object))
	}
	now := time.Now()
	failed := event("evt_it_failed", "invoice.payment_failed", now, fmt.Sprintf(`{"id":"in_it","object":"invoice","customer":%q}`, customer))
	if code, body := hook([]byte(strings.Replace(string(failed), "in_it", "in_xx", 1)), billing.Sign(failed, itStripeSecret, now)); code != http.StatusBadRequest {
		t.Fatalf("tampered webhook: %d %s", code, body)
	}
	if code, body := hook(failed, billing.Sign(failed, itStripeSecret, now.Add(-10*time.Minute))); code != http.StatusBadRequest {
		t.Fatalf("stale webhook: %d %s", code, body)
	}
	if code, body := hook(failed, billing.Sign(failed, itStripeSecret, time.Now())); code != http.StatusOK || !strings.Contains(body, "marked past due") {
		t.Fatalf("payment_failed: %d %s", code, body)
	}
	if code, body := hook(failed, billing.Sign(failed, itStripeSecret, time.Now())); code != http.StatusOK || !strings.Contains(body, `"duplicate": true`) {
		t.Fatalf("replay: %d %s", code, body)
	}
	// A grace period of 0: asleep at once, its tenant told why with a 402.
	var problem struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	eventually(t, 30*time.Second, "a 402 for tenant-a", func() bool {
		code, body := d.viaRouter("tenant-a.localhost", "/")
		_ = json.Unmarshal(body, &problem)
		return code == http.StatusPaymentRequired
	})
	if problem.Status != 402 || !strings.Contains(problem.Detail, "in_it") {
		t.Fatalf("402 body %+v", problem)
	}
	d.waitPhase("tenant-a", "Stopped", time.Minute)
	var st struct {
		Billing billing.Status `json:"billing"`
	}
	if err := json.Unmarshal([]byte(d.mustClawd("status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Billing.PastDue, []string{"tenant-a"}) || !slices.Equal(st.Billing.Suspended, []string{"tenant-a"}) || st.Billing.Subscribed != 1 {
		t.Fatalf("status billing %+v", st.Billing)
	}
	if table := d.mustClawd("status"); !strings.Contains(table, "Suspended:") || !strings.Contains(table, "tenant-a") {
		t.Errorf("status table lacks the suspension:\n%s", table)
	}

	paid := event("evt_it_paid", "invoice.paid", time.Now().Add(time.Second), fmt.Sprintf(`{"id":"in_it","object":"invoice","customer":%q}`, customer))
	if code, body := hook(paid, billing.Sign(paid, itStripeSecret, time.Now())); code != http.StatusOK || !strings.Contains(body, "past due cleared") {
		t.Fatalf("paid: %d %s", code, body)
	}
	eventually(t, 2*time.Minute, "tenant-a answering again", func() bool {
		code, _ := d.viaRouter("tenant-a.localhost", "/healthz")
		return code == http.StatusOK
	})

	// Unpaid again, and settled outside Stripe: the operator resumes it.
	failed2 := event("evt_it_failed2", "invoice.payment_failed", time.Now().Add(2*time.Second), fmt.Sprintf(`{"id":"in_it2","object":"invoice","customer":%q,"status":"open"}`, customer))
	if code, body := hook(failed2, billing.Sign(failed2, itStripeSecret, time.Now())); code != http.StatusOK || !strings.Contains(body, "marked past due") {
		t.Fatalf("second payment_failed: %d %s", code, body)
	}
	eventually(t, 30*time.Second, "a 402 for tenant-a again", func() bool {
		code, _ := d.viaRouter("tenant-a.localhost", "/")
		return code == http.StatusPaymentRequired
	})
	if out := d.mustClawd("billing", "resume", "tenant-a"); !strings.Contains(out, "tenant-a resumed") {
		t.Fatalf("billing resume said %q", out)
	}
	eventually(t, 2*time.Minute, "tenant-a answering after billing resume", func() bool {
		code, _ := d.viaRouter("tenant-a.localhost", "/healthz")
		return code == http.StatusOK
	})
	if _, errOut, err := d.clawd("billing", "resume", "tenant-a"); err == nil || !strings.Contains(errOut, "nothing to resume") {
		t.Fatalf("resuming a namespace that owes nothing: %v %q", err, errOut)
	}

	// A plan change swaps the items and the quotas (pro has none).
	stripe.Reset()
	d.mustClawd("billing", "subscribe", "tenant-a", "--plan=pro")
	if got := stripe.Calls(); !slices.Equal(got, []string{"POST /v1/subscriptions/" + sub}) {
		t.Fatalf("plan change sent %v", got)
	}
	qs.Quotas = nil
	if err := json.Unmarshal([]byte(d.mustClawd("namespace", "quota-status", "tenant-a", "-o", "json")), &qs); err != nil {
		t.Fatal(err)
	}
	if _, ok := qs.Quotas["api.tokensPerDay"]; ok {
		t.Fatalf("basic's quotas stayed after the change to pro: %+v", qs.Quotas)
	}

	stripe.Reset()
	d.mustClawd("billing", "unsubscribe", "tenant-a")
	if got := stripe.Calls(); !slices.Equal(got, []string{"DELETE /v1/subscriptions/" + sub}) {
		t.Fatalf("unsubscribe sent %v", got)
	}
}

func adminPost(t *testing.T, d *daemon, method, path, body string) int {
	t.Helper()
	token := strings.TrimSpace(readFile(t, filepath.Join(d.dir, "admin.token")))
	req, _ := http.NewRequest(method, "http://"+d.apiAddr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
