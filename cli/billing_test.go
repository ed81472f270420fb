package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBillingPlanCreateSendsTheQuotaFile(t *testing.T) {
	seen := fakeDaemon(t, map[string]string{"POST /api/v1/billing/plans": `{"name":"basic","amount":9900,"currency":"usd","interval":"month","priceId":"price_1"}`})
	file := filepath.Join("..", "configs", "tenant-b-quota.yaml")
	out, _, err := runCLI("billing", "plan", "create", "--name=basic", "--price=99.00", "--currency=USD", "--interval=month", "--quotas=@"+file, "--price-per-1k-tokens=0.5")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "plan basic created: 99.00 USD per month") {
		t.Errorf("stdout %q", out)
	}
	if len(*seen) != 1 {
		t.Fatalf("sent %v", *seen)
	}
	var req struct {
		Name, Price, Currency, Interval, Quotas string
		Metered                                 map[string]string
	}
	if err := json.Unmarshal([]byte(strings.SplitN((*seen)[0], " ", 3)[2]), &req); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(file)
	if req.Quotas != string(want) || req.Price != "99.00" || req.Metered["tokens"] != "0.5" {
		t.Errorf("request %+v", req)
	}
}

// Bad input is refused before the daemon is asked.
func TestBillingBadInputNeverReachesTheDaemon(t *testing.T) {
	seen := fakeDaemon(t, nil)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("namespace: x\nquotas:\n  compute: {cpu: lots}\n"), 0o600)
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"--price", []string{"billing", "plan", "create", "--name=x", "--price=-1", "--currency=USD"}},
		{"at most 2 decimals", []string{"billing", "plan", "create", "--name=x", "--price=99.999", "--currency=USD"}},
		{"--currency", []string{"billing", "plan", "create", "--name=x", "--price=99", "--currency=usd$"}},
		{"--interval", []string{"billing", "plan", "create", "--name=x", "--price=99", "--currency=USD", "--interval=fortnight"}},
		{"--quotas", []string{"billing", "plan", "create", "--name=x", "--price=99", "--currency=USD", "--quotas=@" + bad}},
		{"--name", []string{"billing", "plan", "create", "--name=Basic Plan", "--price=99", "--currency=USD"}},
		{"--plan is required", []string{"billing", "subscribe", "tenant-a"}},
		{"invalid namespace name", []string{"billing", "subscribe", "Tenant-A", "--plan=basic"}},
		{"--limit", []string{"billing", "invoices", "tenant-a", "--limit=500"}},
	} {
		if _, _, err := runCLI(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if len(*seen) != 0 {
		t.Fatalf("sent %v", *seen)
	}
}
