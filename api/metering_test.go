package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/metering"
)

type fakeLedger struct {
	usage []ledger.Usage
	rows  []ledger.Row
	fail  error // Export fails after the rows
	q     ledger.Query
}

func (f *fakeLedger) Report(_ context.Context, q ledger.Query) ([]ledger.Usage, error) {
	f.q = q
	var out []ledger.Usage
	for _, u := range f.usage {
		if q.Namespace == "" || q.Namespace == u.Namespace {
			out = append(out, u)
		}
	}
	return out, nil
}

func (f *fakeLedger) Export(_ context.Context, q ledger.Query, fn func(ledger.Row) error) error {
	f.q = q
	for _, r := range f.rows {
		if err := fn(r); err != nil {
			return err
		}
	}
	return f.fail
}

func TestMeteringReport(t *testing.T) {
	st := newMemStore()
	fl := &fakeLedger{usage: []ledger.Usage{{Namespace: "tenant-a", APIRequests: 2000, InputTokens: 900_000, OutputTokens: 100_000,
		TokensByModel: map[string]int64{"openai/gpt-4o": 1_000_000}}}}
	srv := New(Config{Token: adminToken, Ledger: fl}, st, nil)

	rec := admin(t, srv, "GET", "/api/v1/metering/report?namespace=tenant-a&period=2026-Q2", "")
	if rec.Code != 200 {
		t.Fatalf("report: %d %s", rec.Code, rec.Body)
	}
	var reps []metering.Report
	decodeInto(t, rec, &reps)
	if len(reps) != 1 || reps[0].Usage.TokensUsed != 1_000_000 || reps[0].Period != "2026-Q2" || reps[0].Cost != nil {
		t.Fatalf("report %+v; want tenant-a's million tokens and no cost without prices", reps)
	}
	if !fl.q.Start.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) || !fl.q.End.Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ledger asked for %v..%v, want Q2", fl.q.Start, fl.q.End)
	}

	if err := st.SetConfig(context.Background(), "metering.prices.apiRequests", "0.50"); err != nil {
		t.Fatal(err)
	}
	rec = admin(t, srv, "GET", "/api/v1/metering/report?namespace=tenant-b&period=2026-05", "")
	decodeInto(t, rec, &reps)
	if len(reps) != 1 || reps[0].Namespace != "tenant-b" || reps[0].Usage.APIRequests != 0 || reps[0].Cost == nil || reps[0].Cost.Total != 0 {
		t.Fatalf("a namespace without usage: %+v; want a zero report priced at 0.00", reps)
	}
	rec = admin(t, srv, "GET", "/api/v1/metering/report?period=2026-05", "")
	decodeInto(t, rec, &reps)
	if len(reps) != 1 || reps[0].Cost == nil || reps[0].Cost.APICalls == nil || *reps[0].Cost.APICalls != 100 {
		t.Fatalf("every namespace: %+v; want tenant-a with api_calls 1.00", reps)
	}

	for _, bad := range []string{"period=2026-13", "period=", "period=2026-05&namespace=Bad_Name", "period=2026-05-31..2026-05-01"} {
		rec := admin(t, srv, "GET", "/api/v1/metering/report?"+bad, "")
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "detail") {
			t.Errorf("%s: %d %s, want a 400 problem", bad, rec.Code, rec.Body)
		}
	}
}

func TestMeteringExport(t *testing.T) {
	fl := &fakeLedger{rows: []ledger.Row{
		{Namespace: "tenant-a", Day: "2026-05-01", Meter: "api_requests", Value: 12},
		{Namespace: "tenant-a", Day: "2026-05-01", Meter: "cpu_seconds", Value: 1.25},
		{Namespace: "tenant-a", Day: "2026-05-01", Meter: "input_tokens", Model: "openai/gpt-4o", Value: 1e7},
	}}
	srv := New(Config{Token: adminToken, Ledger: fl}, newMemStore(), nil)
	rec := admin(t, srv, "GET", "/api/v1/metering/export?start=2026-05-01&end=2026-05-31&format=csv", "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", rec.Code, rec.Header())
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil || len(rows) != 4 || rows[3][4] != "10000000" || rows[2][4] != "1.25" || rows[3][3] != "openai/gpt-4o" {
		t.Fatalf("csv %v (%v)", rows, err)
	}
	if !fl.q.End.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("end day not included: ledger asked up to %v", fl.q.End)
	}
	rec = admin(t, srv, "GET", "/api/v1/metering/export?start=2026-05-01&end=2026-05-31&format=json", "")
	var js []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &js); err != nil || len(js) != 3 || js[2]["value"] != 1e7 {
		t.Fatalf("json export %s: %v", rec.Body, err)
	}
	for _, bad := range []string{"start=2026-05-01", "start=May&end=2026-05-31", "start=2026-05-02&end=2026-05-01", "start=2026-05-01&end=2026-05-31&format=pdf"} {
		if rec := admin(t, srv, "GET", "/api/v1/metering/export?"+bad, ""); rec.Code != 400 {
			t.Errorf("%s: %d, want 400", bad, rec.Code)
		}
	}
	// A ledger failing mid-stream cuts the reply rather than end it
	// cleanly: the handler aborts.
	fl.fail = errors.New("disk gone")
	func() {
		defer func() {
			if r := recover(); r != http.ErrAbortHandler {
				t.Errorf("a failed export did not abort the reply: %v", r)
			}
		}()
		admin(t, srv, "GET", "/api/v1/metering/export?start=2026-05-01&end=2026-05-31", "")
	}()
}
