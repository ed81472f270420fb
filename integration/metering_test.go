package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clawd-dev/clawd/internal/testenv"
	"github.com/clawd-dev/clawd/modelgw/fakeprovider"
)

// report is `clawd metering report -o json` for one namespace.
type report struct {
	Namespace string `json:"namespace"`
	Period    string `json:"period"`
	Usage     struct {
		APIRequests    int64            `json:"api_requests"`
		TokensUsed     int64            `json:"tokens_used"`
		SkillsExecuted int64            `json:"skills_executed"`
		StorageUsed    string           `json:"storage_used"`
		StorageBytes   int64            `json:"storage_bytes"`
		InputTokens    int64            `json:"input_tokens"`
		OutputTokens   int64            `json:"output_tokens"`
		ModelCalls     int64            `json:"model_calls"`
		TokensByModel  map[string]int64 `json:"tokens_by_model"`
		CPUSeconds     float64          `json:"cpu_seconds"`
		MemoryGiBHours float64          `json:"memory_gib_hours"`
	} `json:"usage"`
	Cost *struct {
		Currency string   `json:"currency"`
		APICalls *float64 `json:"api_calls"`
		Tokens   *float64 `json:"tokens"`
		Total    float64  `json:"total"`
	} `json:"cost"`
}

// aroundToday is a period that holds today whatever the hour (UTC).
func aroundToday() string {
	now := time.Now().UTC()
	return now.AddDate(0, 0, -1).Format(time.DateOnly) + ".." + now.AddDate(0, 0, 1).Format(time.DateOnly)
}

func (d *daemon) report(ns string) report {
	d.t.Helper()
	var r report
	out := d.mustClawd("metering", "report", "--namespace="+ns, "--period="+aroundToday(), "--format=json")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		d.t.Fatalf("metering report: %v\n%s", err, out)
	}
	return r
}

// reportAll sums every namespace's report (metering report without
// --namespace).
func (d *daemon) reportAll() report {
	d.t.Helper()
	var rs []report
	out := d.mustClawd("metering", "report", "--period="+aroundToday(), "--format=json")
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		d.t.Fatalf("metering report: %v\n%s", err, out)
	}
	var sum report
	for _, r := range rs {
		sum.Usage.ModelCalls += r.Usage.ModelCalls
		sum.Usage.InputTokens += r.Usage.InputTokens
		sum.Usage.OutputTokens += r.Usage.OutputTokens
		sum.Usage.TokensUsed += r.Usage.TokensUsed
		sum.Usage.APIRequests += r.Usage.APIRequests
	}
	return sum
}

type meteringStatus struct {
	Metering struct {
		Backend   string    `json:"backend"`
		Ledger    string    `json:"ledger"`
		Queued    int64     `json:"queued"`
		Written   int64     `json:"written"`
		LastFlush time.Time `json:"lastFlush"`
	} `json:"metering"`
}

func (d *daemon) meteringStatus() meteringStatus {
	d.t.Helper()
	var st meteringStatus
	if err := json.Unmarshal([]byte(d.mustClawd("status", "-o", "json")), &st); err != nil {
		d.t.Fatal(err)
	}
	return st
}

// postgresLedger makes a fresh database on the test PostgreSQL server
// (scripts/postgres.sh) and returns its DSN.
func postgresLedger(t *testing.T) string {
	t.Helper()
	base := os.Getenv("CLAWD_TEST_POSTGRES_DSN")
	if base == "" {
		testenv.Missing(t, "no PostgreSQL server: run scripts/postgres.sh (make postgres) and export CLAWD_TEST_POSTGRES_DSN")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to %s: %v", base, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := "it_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	return u.String()
}

// meteredDaemon starts a daemon whose namespaces (created with
// <name>.localhost) call the fake provider's gpt-4o, after setting the
// config pairs given.
func meteredDaemon(t *testing.T, flags, config []string, namespaces ...string) (*daemon, *fakeprovider.Provider) {
	t.Helper()
	fp, fakeURL := startFakeProvider(t)
	d := startDaemon(t, flags...)
	d.addProvider("openai", "openai-completions", fakeURL+"/v1", fakeProviderKey, "gpt-4o")
	d.mustClawd("config", "set", "namespaces.*.models.primary", "gpt-4o")
	for i := 0; i+1 < len(config); i += 2 {
		d.mustClawd("config", "set", config[i], config[i+1])
	}
	for _, ns := range namespaces {
		d.mustClawd("namespace", "create", ns, "--hostname="+ns+".localhost")
	}
	return d, fp
}

// meteringFlags make a daemon sample and flush quickly.
var meteringFlags = []string{"--metering.computeinterval=1s", "--metering.storageinterval=1s", "--ledger.flushinterval=200ms"}

// Usage counted end to end: chat turns of a gateway through the fake
// provider give a report whose tokens equal the provider's own count, the
// requests the router forwarded, compute and storage from the cgroups and
// volumes; the CSV export sums to the same; prices make a cost.
func TestMeteringReportIsExact(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			flags := meteringFlags
			if backend == "postgres" {
				flags = append(flags, "--ledger.dsn="+postgresLedger(t))
			}
			meteringExact(t, backend, flags)
		})
	}
}

func meteringExact(t *testing.T, backend string, flags []string) {
	d, fp := meteredDaemon(t, flags, nil, "alpha", "beta")

	if st := d.meteringStatus(); st.Metering.Backend != "ledger" || st.Metering.Ledger != backend {
		t.Fatalf("status shows metering %+v, want the ledger backend on %s", st.Metering, backend)
	}
	const turns = 4
	for i := range turns {
		if code, text := d.chat("alpha.localhost", "", i%2 == 1); code != 200 || !strings.Contains(text, "fake provider") {
			t.Fatalf("chat %d: %d %q", i, code, text)
		}
	}
	in, out := fp.Totals()
	var r report
	eventually(t, 30*time.Second, "the report counts the provider's tokens and the gateway's compute and storage", func() bool {
		r = d.report("alpha")
		return r.Usage.ModelCalls == turns && r.Usage.TokensUsed == in+out && r.Usage.CPUSeconds > 0 &&
			r.Usage.MemoryGiBHours > 0 && r.Usage.StorageBytes > 0
	})
	if r.Usage.InputTokens != in || r.Usage.OutputTokens != out || r.Usage.TokensByModel["openai/gpt-4o"] != in+out {
		t.Errorf("report %+v; want %d input and %d output tokens, all of openai/gpt-4o", r.Usage, in, out)
	}
	if r.Usage.APIRequests < turns {
		t.Errorf("report counts %d API requests, want at least the %d chat turns", r.Usage.APIRequests, turns)
	}
	if r.Cost != nil {
		t.Errorf("a namespace without prices got a cost: %+v", r.Cost)
	}
	if b := d.report("beta"); b.Usage.TokensUsed != 0 || b.Usage.ModelCalls != 0 {
		t.Errorf("beta's report counts alpha's calls: %+v", b.Usage)
	}

	t.Run("csv export sums to the report", func(t *testing.T) {
		now := time.Now().UTC()
		raw := d.mustClawd("metering", "export", "--namespace=alpha", "--start="+now.AddDate(0, 0, -1).Format(time.DateOnly),
			"--end="+now.AddDate(0, 0, 1).Format(time.DateOnly), "--format=csv")
		rows, err := csv.NewReader(strings.NewReader(raw)).ReadAll()
		if err != nil {
			t.Fatalf("the export is not CSV: %v\n%s", err, raw)
		}
		if strings.Join(rows[0], ",") != "namespace,day,meter,model,value" {
			t.Fatalf("header %v", rows[0])
		}
		sums := map[string]float64{}
		for _, row := range rows[1:] {
			if row[0] != "alpha" {
				t.Errorf("row of another namespace: %v", row)
			}
			v, err := strconv.ParseFloat(row[4], 64)
			if err != nil {
				t.Fatalf("value %q: %v", row[4], err)
			}
			sums[row[2]] += v
		}
		// The report was read before; only samples may have come since.
		if int64(sums["input_tokens"]) != in || int64(sums["output_tokens"]) != out || int64(sums["model_calls"]) != turns {
			t.Errorf("export sums %v; want %d input, %d output tokens and %d calls", sums, in, out, turns)
		}
	})

	t.Run("prices make a cost, unpriced meters stay out", func(t *testing.T) {
		d.mustClawd("config", "set", "metering.prices.tokens", "10")
		r := d.report("alpha")
		if r.Cost == nil || r.Cost.Tokens == nil || r.Cost.APICalls != nil || r.Cost.Currency != "USD" {
			t.Fatalf("cost %+v; want a tokens line in USD and no api_calls line", r.Cost)
		}
		want := float64(r.Usage.TokensUsed) * 10 / 1e6
		if got := *r.Cost.Tokens; got < want-0.005 || got > want+0.005 || r.Cost.Total != got {
			t.Errorf("tokens cost %v (total %v), want %.2f", got, r.Cost.Total, want)
		}
		if _, errOut, err := d.clawd("config", "set", "metering.prices.tokens", "ten"); err == nil || !strings.Contains(errOut, "amount") {
			t.Errorf("a bad price: err %v, %s", err, errOut)
		}
	})

	t.Run("disabled records nothing", func(t *testing.T) {
		d.mustClawd("config", "set", "metering.enabled", "false")
		eventually(t, 10*time.Second, "status says metering is off", func() bool { return d.meteringStatus().Metering.Backend == "off" })
		before := d.report("beta")
		for range 2 {
			if code, _ := d.chat("beta.localhost", "", false); code != 200 {
				t.Fatalf("chat via beta: %d", code)
			}
		}
		d.mustClawd("config", "set", "metering.enabled", "true")
		eventually(t, 10*time.Second, "status says metering is on", func() bool { return d.meteringStatus().Metering.Backend == "ledger" })
		// One call metered: the report must grow by exactly one. Calls
		// recorded while off would have been flushed by then too.
		if code, _ := d.chat("beta.localhost", "", false); code != 200 {
			t.Fatalf("chat via beta: %d", code)
		}
		var after report
		eventually(t, 10*time.Second, "the call after re-enabling is counted", func() bool {
			after = d.report("beta")
			return after.Usage.ModelCalls > before.Usage.ModelCalls
		})
		if after.Usage.ModelCalls != before.Usage.ModelCalls+1 {
			t.Errorf("calls made while metering was off were recorded: %d calls before, %d after one more", before.Usage.ModelCalls, after.Usage.ModelCalls)
		}
	})
}

// A kill -9 of clawd up in the middle of traffic loses no event the ledger
// had acknowledged (written) and counts none twice: after a restart, the
// report holds every call flushed before the kill, and its tokens are
// exactly its calls' tokens.
func TestMeteringSurvivesKill9(t *testing.T) {
	d, fp := meteredDaemon(t, meteringFlags, nil, "alpha")

	var done atomic.Int64 // chat turns the client saw answered
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if code, _ := d.chatNoFail("alpha.localhost"); code == 200 {
				done.Add(1)
			}
		}
	}()
	// Let some calls finish, then wait for a flush that began after
	// them: those calls are acknowledged, durable.
	eventually(t, 60*time.Second, "a few chat turns", func() bool { return done.Load() >= 3 })
	acked := done.Load()
	mark := time.Now().UTC()
	eventually(t, 30*time.Second, "a flush after the acknowledged calls", func() bool {
		return d.meteringStatus().Metering.LastFlush.After(mark.Add(250 * time.Millisecond))
	})
	d.kill9()
	close(stop)
	wg.Wait()

	d.start()
	r := d.report("alpha")
	calls := fp.Calls()
	if r.Usage.ModelCalls < acked {
		t.Errorf("after kill -9 the ledger has %d calls, want at least the %d flushed before it", r.Usage.ModelCalls, acked)
	}
	if r.Usage.ModelCalls > int64(len(calls)) {
		t.Errorf("the ledger has %d calls, the provider saw %d: counted twice", r.Usage.ModelCalls, len(calls))
	}
	per := calls[0].InputTokens + calls[0].OutputTokens
	for _, c := range calls {
		if c.InputTokens+c.OutputTokens != per {
			t.Fatalf("the fake provider's calls differ in tokens (%d vs %d); the test needs equal turns", c.InputTokens+c.OutputTokens, per)
		}
	}
	if r.Usage.TokensUsed != r.Usage.ModelCalls*per {
		t.Errorf("tokens %d for %d calls of %d tokens each: a call counted in part or twice", r.Usage.TokensUsed, r.Usage.ModelCalls, per)
	}
	t.Logf("kill -9 mid-traffic: %d calls at the provider, %d acknowledged, %d in the ledger after restart", len(calls), acked, r.Usage.ModelCalls)
}

var chatClient = &http.Client{Timeout: 2 * time.Minute}

// newChatRequest is an OpenAI chat completion for a namespace's gateway
// through the router at base, as a tenant's client sends it.
func newChatRequest(base, host string, stream bool) (*http.Request, error) {
	body := `{"model":"openclaw","stream":` + strconv.FormatBool(stream) +
		`,"messages":[{"role":"user","content":"Say hello to the integration test please"}]}`
	req, err := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// chatNoFail is chat without failing the test on a transport error (the
// daemon may be killed under it).
func (d *daemon) chatNoFail(host string) (int, error) {
	req, err := newChatRequest("http://"+d.routerAddr, host, false)
	if err != nil {
		return 0, err
	}
	resp, err := chatClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// metering.backend=prometheus: a real Prometheus server (Debian's) scrapes
// clawd's /metrics with the admin token and holds each namespace's
// clawd_usage_* series, equal to what the provider counted.
func TestMeteringPrometheusScrape(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		testenv.Missing(t, "no prometheus server binary (Debian: apt-get install prometheus; make tools installs it)")
	}
	d, fp := meteredDaemon(t, meteringFlags, []string{"metering.backend", "prometheus"}, "alpha")
	eventually(t, 10*time.Second, "status shows the prometheus backend", func() bool {
		return d.meteringStatus().Metering.Backend == "prometheus"
	})
	for range 3 {
		if code, _ := d.chat("alpha.localhost", "", false); code != 200 {
			t.Fatalf("chat: %d", code)
		}
	}
	in, out := fp.Totals()

	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: clawd
    authorization:
      credentials_file: %s
    static_configs:
      - targets: ['%s']
`, filepath.Join(d.dir, "admin.token"), d.apiAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	query := func(q string) (float64, bool) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var r struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Data.Result) != 1 {
			return 0, false
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	}
	eventually(t, 60*time.Second, "Prometheus holds alpha's token counts", func() bool {
		vin, ok1 := query(`clawd_usage_tokens_total{namespace="alpha",direction="input"}`)
		vout, ok2 := query(`clawd_usage_tokens_total{namespace="alpha",direction="output"}`)
		return ok1 && ok2 && int64(vin) == in && int64(vout) == out
	})
	if v, ok := query(`clawd_usage_model_calls_total{namespace="alpha",model="openai/gpt-4o"}`); !ok || v != 3 {
		t.Errorf("clawd_usage_model_calls_total = %v (%v), want 3", v, ok)
	}
	if v, ok := query(`clawd_usage_api_requests_total{namespace="alpha"}`); !ok || v < 3 {
		t.Errorf("clawd_usage_api_requests_total = %v (%v), want at least the 3 chat turns", v, ok)
	}
	eventually(t, 30*time.Second, "compute and storage series", func() bool {
		cpu, ok1 := query(`clawd_usage_cpu_seconds_total{namespace="alpha"}`)
		disk, ok2 := query(`clawd_usage_storage_bytes{namespace="alpha"}`)
		return ok1 && ok2 && cpu > 0 && disk > 0
	})
	if t.Failed() {
		t.Logf("prometheus log:\n%s", logs.String())
	}
}
