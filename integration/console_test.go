package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/internal/stripetest"
	"github.com/clawd-dev/clawd/internal/testenv"
)

// The operator console in a real browser (Debian's Chromium driven by
// playwright-core, browser/console.mjs) against a real `clawd up` with the
// stand-in gateway: a wrong token refused, sign-in, a namespace created
// from the page reaching Running, a key shown once, the chart and the usage
// page showing the tokens the API's report counts, sleep and wake, the
// banner of a daemon that went away. Screenshots of each page go to
// $CLAWD_CONSOLE_SCREENSHOTS, or the test's temp dir (logged).
func TestConsole(t *testing.T) {
	needBrowser(t)
	d, fp := meteredDaemon(t, meteringFlags, nil, "alpha")
	for i := range 3 {
		if code, text := d.chat("alpha.localhost", "", i == 1); code != 200 || !strings.Contains(text, "fake provider") {
			t.Fatalf("chat %d: %d %q", i, code, text)
		}
	}
	in, out := fp.Totals()
	var calls int64
	eventually(t, 30*time.Second, "the ledger holds the provider's tokens", func() bool {
		r := d.report("alpha")
		calls = r.Usage.ModelCalls
		return r.Usage.TokensUsed == in+out
	})
	if calls < 3 {
		t.Fatalf("the ledger counts %d model calls for 3 chats", calls)
	}
	token, err := os.ReadFile(filepath.Join(d.dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}

	// clawd console prints the URL the browser opens.
	url := strings.TrimSpace(d.mustClawd("console"))
	if url != "http://"+d.apiAddr+"/console/" {
		t.Fatalf("clawd console printed %q, want http://%s/console/", url, d.apiAddr)
	}

	shots := os.Getenv("CLAWD_CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(t.TempDir(), "screenshots")
	}
	cmd := exec.Command("node", "browser/console.mjs", "http://"+d.apiAddr, strings.TrimSpace(string(token)), shots, "alpha", jsonNumber(in+out), jsonNumber(calls))
	res, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	if err != nil {
		t.Fatalf("console.mjs: %v: %s (screenshots in %s)", err, stderr, shots)
	}
	t.Logf("screenshots of every page in %s", shots)
	var saw struct {
		Created     string   `json:"created"`
		Key         string   `json:"key"`
		MemoryError string   `json:"memoryError"`
		Charted     int64    `json:"charted"`
		Calls       int64    `json:"calls"`
		UsageError  string   `json:"usageError"`
		Readings    int      `json:"readings"`
		History     []string `json:"history"`
	}
	if err := json.Unmarshal(res, &saw); err != nil {
		t.Fatalf("console.mjs printed %q: %v", res, err)
	}

	t.Logf("the console charted %d tokens, %d model calls, %d CPU and memory readings; phase history %v", saw.Charted, saw.Calls, saw.Readings, saw.History)

	// What the page did went through the API and is real.
	if v := d.get(saw.Created); v.Status.Phase != "Running" {
		t.Errorf("namespace %s created in the console: phase %s, want Running", saw.Created, v.Status.Phase)
	}
	if _, errOut, err := d.clawd("namespace", "get", "gone"); err == nil || !strings.Contains(errOut, "not found") {
		t.Errorf("namespace gone, deleted in the console: namespace get says %q, %v", errOut, err)
	}
	if _, errOut, err := d.clawd("namespace", "create", "x", "--quota-memory=lots"); err == nil || !strings.Contains(errOut, saw.MemoryError) {
		t.Errorf("the console showed %q for a bad memory size; the CLI says %q", saw.MemoryError, errOut)
	}
	if _, errOut, err := d.clawd("metering", "report", "--period=someday"); err == nil || saw.UsageError == "" || !strings.Contains(errOut, saw.UsageError) {
		t.Errorf("the console showed %q for a bad period; the CLI says %q", saw.UsageError, errOut)
	}
	keys := d.mustClawd("apikey", "list", "--namespace="+saw.Created, "-o", "json")
	var list []struct {
		Prefix string `json:"prefix"`
		Name   string `json:"name"`
	}
	if err := json.Unmarshal([]byte(keys), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "console-test" || !strings.HasPrefix(saw.Key, list[0].Prefix) {
		t.Errorf("keys of %s: %+v; the console showed a key starting %.12q", saw.Created, list, saw.Key)
	}
	if strings.Contains(keys, saw.Key) {
		t.Error("the API lists the whole key")
	}
	// The phase history the page showed is the audit log's.
	var recs []struct {
		Actor  string `json:"actor"`
		Action string `json:"action"`
		After  string `json:"after"`
	}
	if err := json.Unmarshal([]byte(d.mustClawd("audit", "query", "--namespace="+saw.Created, "--event-type=namespace", "-o", "json")), &recs); err != nil {
		t.Fatal(err)
	}
	var logged []string
	for _, r := range recs {
		if r.Actor == "system" && r.After != "" {
			logged = append([]string{r.Action + ">" + r.After}, logged...)
		}
	}
	if strings.Join(logged, " ") != strings.Join(saw.History, " ") {
		t.Errorf("the console's phase history %v; the audit log's %v", saw.History, logged)
	}
	// The key the page showed once opens the namespace's gateway.
	if code, text := d.chat("", saw.Key, false); code != 200 || !strings.Contains(text, "fake provider") {
		t.Errorf("a chat with the key shown in the console: %d %.200q", code, text)
	}
}

// The namespaces table's plan column shows billing's subscriptions
// (stripe-mock stands in for Stripe, as in TestBillingEndToEnd).
func TestConsolePlanColumn(t *testing.T) {
	needBrowser(t)
	stripe := stripetest.Start(t)
	d := startDaemon(t, "--billing.stripe.apiBase="+stripe.URL)
	d.mustClawd("billing", "configure", "--provider=stripe", "--api-key="+itStripeKey, "--webhook-secret="+itStripeSecret)
	d.mustClawd("billing", "plan", "create", "--name=basic", "--price=99.00", "--currency=USD", "--interval=month")
	d.mustClawd("namespace", "create", "paying")
	d.mustClawd("namespace", "create", "free")
	d.mustClawd("billing", "subscribe", "paying", "--plan=basic", "--payment-method=pm_card_visa")
	token, err := os.ReadFile(filepath.Join(d.dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("CLAWD_CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(t.TempDir(), "screenshots")
	}
	out, err := exec.Command("node", "browser/console-plan.mjs", "http://"+d.apiAddr, strings.TrimSpace(string(token)), shots, "paying", "basic", "free").Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("console-plan.mjs: %v: %s (screenshots in %s)", err, ee.Stderr, shots)
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("console-plan.mjs: %s", bytes.TrimSpace(out))
}

func needBrowser(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err != nil && os.Getenv("CHROMIUM") == "" {
		testenv.Missing(t, "no Chromium at /usr/bin/chromium (make tools installs Debian's)")
	}
	if _, err := os.Stat("browser/node_modules/playwright-core"); err != nil {
		testenv.Missing(t, "integration/browser/node_modules lacks playwright-core (make tools runs npm ci there)")
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
