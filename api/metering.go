package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/metering"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/problem"
)

// Ledger is what the metering endpoints read: the usage ledger's sums.
type Ledger interface {
	Report(ctx context.Context, q ledger.Query) ([]ledger.Usage, error)
	Export(ctx context.Context, q ledger.Query, fn func(ledger.Row) error) error
}

// MeteringState tells clawd status what metering does on this node.
type MeteringState interface {
	MeteringStatus() MeteringStatus
}

// MeteringStatus is metering as clawd status shows it.
type MeteringStatus struct {
	// Backend is "ledger", "prometheus" (the ledger too) or "off"
	// (metering.enabled=false: nothing is recorded).
	Backend string `json:"backend"`
	// Ledger is the store: "sqlite" or "postgres".
	Ledger    string `json:"ledger"`
	Retention string `json:"retention"`
	// Queued events wait for the next flush: a crash loses at most these
	// (about a second's worth); Dropped were refused by a full queue.
	Queued    int64     `json:"queued"`
	Written   int64     `json:"written"`
	Dropped   int64     `json:"dropped"`
	Failures  int64     `json:"failures"`
	LastFlush time.Time `json:"lastFlush"`
}

// meteringReport is GET /api/v1/metering/report?period=…[&namespace=…]: one
// report per namespace (every namespace there is or that has usage in the
// period, when none is named), priced with the operator's prices.
func (s *Server) meteringReport(r *http.Request) (int, any, error) {
	if s.cfg.Ledger == nil {
		return 0, nil, conflict{fmt.Errorf("this clawd has no usage ledger")}
	}
	q := r.URL.Query()
	period := q.Get("period")
	if period == "" {
		return 0, nil, invalid("period is required: 2026-05, 2026-Q2, 2026-05-01..2026-05-31 or 2026-05-01")
	}
	start, end, err := ledger.ParsePeriod(period)
	if err != nil {
		return 0, nil, badRequest{err}
	}
	name := q.Get("namespace")
	if name != "" {
		if err := namespace.ValidateName(name); err != nil {
			return 0, nil, badRequest{err}
		}
	}
	usages, err := s.cfg.Ledger.Report(r.Context(), ledger.Query{Namespace: name, Start: start, End: end})
	if err != nil {
		return 0, nil, err
	}
	prices, err := s.prices(r.Context())
	if err != nil {
		return 0, nil, err
	}
	byName := map[string]ledger.Usage{}
	for _, u := range usages {
		byName[u.Namespace] = u
	}
	// Namespaces without usage get a report of zeros: "nothing used" is
	// an answer too.
	if name != "" {
		if _, ok := byName[name]; !ok {
			byName[name] = ledger.Usage{Namespace: name}
		}
	} else {
		list, err := s.st.ListNamespaces(r.Context())
		if err != nil {
			return 0, nil, err
		}
		for _, ns := range list {
			if _, ok := byName[ns.Spec.Name]; !ok {
				byName[ns.Spec.Name] = ledger.Usage{Namespace: ns.Spec.Name}
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]metering.Report, 0, len(names))
	for _, n := range names {
		out = append(out, metering.NewReport(period, start, end, byName[n], prices))
	}
	return http.StatusOK, out, nil
}

// prices are the operator's metering.prices.* config.
func (s *Server) prices(ctx context.Context) (metering.Prices, error) {
	values, err := s.st.ListConfig(ctx)
	if err != nil {
		return metering.Prices{}, err
	}
	return metering.PricesFromConfig(values)
}

// ExportColumns are the columns of GET /api/v1/metering/export?format=csv.
var ExportColumns = []string{"namespace", "day", "meter", "model", "value"}

// meteringExport streams GET /api/v1/metering/export?start=…&end=…: one row
// per namespace, day, meter (and model, for model meters), as CSV or as
// a JSON array, written as the ledger reads it. start and end are days,
// both included.
func (s *Server) meteringExport(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clawd"`)
		problem.Error(w, http.StatusUnauthorized, "missing or wrong admin token: send 'Authorization: Bearer <token from admin.token>'")
		return
	}
	if s.cfg.Ledger == nil {
		problem.Error(w, http.StatusConflict, "this clawd has no usage ledger")
		return
	}
	q := r.URL.Query()
	start, err := exportDay("start", q.Get("start"))
	if err != nil {
		problem.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	last, err := exportDay("end", q.Get("end"))
	if err != nil {
		problem.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if last.Before(start) {
		problem.Error(w, http.StatusBadRequest, fmt.Sprintf("end %s is before start %s", q.Get("end"), q.Get("start")))
		return
	}
	name := q.Get("namespace")
	if name != "" {
		if err := namespace.ValidateName(name); err != nil {
			problem.Error(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	format := q.Get("format")
	switch format {
	case "", "csv":
		format = "csv"
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	case "json":
		w.Header().Set("Content-Type", "application/json")
	default:
		problem.Error(w, http.StatusBadRequest, fmt.Sprintf("format %q: want csv or json", format))
		return
	}
	lq := ledger.Query{Namespace: name, Start: start, End: last.AddDate(0, 0, 1)}
	// Rows go out as they come; a failure after the first byte cannot
	// change the status any more, so the connection is cut instead: the
	// client sees a broken transfer, never a short file that looks whole.
	fl, _ := w.(http.Flusher)
	n := 0
	flushEvery := func() {
		if n++; n%1000 == 0 && fl != nil {
			fl.Flush()
		}
	}
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(ExportColumns)
		err = s.cfg.Ledger.Export(r.Context(), lq, func(row ledger.Row) error {
			flushEvery()
			return cw.Write([]string{row.Namespace, row.Day, row.Meter, row.Model, formatValue(row.Value)})
		})
		cw.Flush()
		if err == nil {
			err = cw.Error()
		}
	case "json":
		_, _ = w.Write([]byte("["))
		sep := "\n"
		err = s.cfg.Ledger.Export(r.Context(), lq, func(row ledger.Row) error {
			flushEvery()
			b, err := json.Marshal(exportRow{row.Namespace, row.Day, row.Meter, row.Model, json.Number(formatValue(row.Value))})
			if err != nil {
				return err
			}
			_, err = w.Write(append([]byte(sep), b...))
			sep = ",\n"
			return err
		})
		if err == nil {
			_, err = w.Write([]byte("\n]\n"))
		}
	}
	if err != nil {
		s.log.Error("metering export cut short", "error", err, "rows", n)
		panic(http.ErrAbortHandler)
	}
}

type exportRow struct {
	Namespace string      `json:"namespace"`
	Day       string      `json:"day"`
	Meter     string      `json:"meter"`
	Model     string      `json:"model,omitempty"`
	Value     json.Number `json:"value"`
}

// formatValue writes a meter's value without exponent or float noise.
func formatValue(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func exportDay(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("%s is required: a day such as 2026-05-01", name)
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want a day such as 2026-05-01", name, v)
	}
	return t, nil
}
