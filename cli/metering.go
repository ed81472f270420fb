package cli

import (
	"encoding/csv"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/metering"
)

func meteringCmd() *cobra.Command {
	return group("metering", "Usage reports and exports from the metering ledger",
		meteringReportCmd(), meteringExportCmd())
}

func meteringReportCmd() *cobra.Command {
	var ns, period, format string
	cmd := &cobra.Command{
		Use:   "report --period=2026-05|2026-Q2|2026-05-01..2026-05-31 [--namespace=NS] [--format=table|json|yaml|csv]",
		Short: "A namespace's usage and cost over a period (every namespace without --namespace)",
		Example: `  clawd metering report --namespace=tenant-a --period=2026-05 --format=json
  clawd metering report --period=2026-Q2 --format=csv > q2.csv`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if period == "" {
				return fmt.Errorf("--period is required: 2026-05, 2026-Q2, 2026-05-01..2026-05-31 or 2026-05-01")
			}
			if !slices.Contains([]string{"table", "json", "yaml", "csv"}, format) {
				return fmt.Errorf("invalid --format %q: use table, json, yaml or csv", format)
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			q := url.Values{"period": {period}}
			if ns != "" {
				q.Set("namespace", ns)
			}
			var reps []metering.Report
			if err := c.do(cmd.Context(), "GET", "/api/v1/metering/report?"+q.Encode(), nil, &reps); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format == "csv" {
				return reportCSV(out, reps)
			}
			var v any = reps
			if ns != "" && len(reps) == 1 {
				v = reps[0] // the guide's shape: one object for one namespace
			}
			o := output{format: format}
			return o.print(out, v, func(w *tabwriter.Writer) { reportTable(w, reps) })
		},
	}
	cmd.Flags().StringVar(&ns, "namespace", "", "the namespace (default: every namespace, one row each)")
	cmd.Flags().StringVar(&period, "period", "", "a month (2026-05), a quarter (2026-Q2), days (2026-05-01..2026-05-31) or a day, UTC")
	cmd.Flags().StringVarP(&format, "format", "o", "table", "table, json, yaml or csv")
	return cmd
}

// reportColumns head the report's CSV; a cost cell is empty when its
// meter has no price.
var reportColumns = []string{"namespace", "period", "api_requests", "tokens_used", "input_tokens", "output_tokens",
	"model_calls", "skills_executed", "storage_bytes", "storage_gib_hours", "cpu_seconds", "memory_gib_hours",
	"cost_api_calls", "cost_tokens", "cost_storage", "cost_compute", "cost_total", "currency"}

func reportCSV(w io.Writer, reps []metering.Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(reportColumns)
	for _, r := range reps {
		u := r.Usage
		row := []string{r.Namespace, r.Period, itoa(u.APIRequests), itoa(u.TokensUsed), itoa(u.InputTokens), itoa(u.OutputTokens),
			itoa(u.ModelCalls), itoa(u.SkillsExecuted), itoa(u.StorageBytes), ftoa(u.StorageGiBHours), ftoa(u.CPUSeconds), ftoa(u.MemoryGiBHours)}
		if c := r.Cost; c != nil {
			row = append(row, money(c.APICalls), money(c.Tokens), money(c.Storage), money(c.Compute), c.Total.String(), c.Currency)
		} else {
			row = append(row, "", "", "", "", "", "")
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

func reportTable(w *tabwriter.Writer, reps []metering.Report) {
	fmt.Fprintln(w, "NAMESPACE\tPERIOD\tREQUESTS\tTOKENS\tCALLS\tSKILLS\tSTORAGE\tCPU-S\tMEM-GIB-H\tCOST")
	for _, r := range reps {
		u := r.Usage
		cost := "-"
		if r.Cost != nil {
			cost = r.Cost.Total.String() + " " + r.Cost.Currency
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", r.Namespace, r.Period, u.APIRequests, u.TokensUsed,
			u.ModelCalls, u.SkillsExecuted, u.StorageUsed, strconv.FormatFloat(u.CPUSeconds, 'f', 1, 64),
			strconv.FormatFloat(u.MemoryGiBHours, 'f', 3, 64), cost)
	}
}

func itoa(n int64) string   { return strconv.FormatInt(n, 10) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func money(m *metering.Money) string {
	if m == nil {
		return ""
	}
	return m.String()
}

func meteringExportCmd() *cobra.Command {
	var ns, start, end, format string
	cmd := &cobra.Command{
		Use:     "export --start=2026-05-01 --end=2026-05-31 [--namespace=NS] [--format=csv|json]",
		Short:   "Usage rows per namespace, day and meter, streamed (for billing systems and spreadsheets)",
		Example: `  clawd metering export --namespace=tenant-a --start=2026-05-01 --end=2026-05-31 --format=csv > tenant-a-billing.csv`,
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if start == "" || end == "" {
				return fmt.Errorf("--start and --end are required: days such as 2026-05-01 (both included)")
			}
			if format != "csv" && format != "json" {
				return fmt.Errorf("invalid --format %q: use csv or json", format)
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			q := url.Values{"start": {start}, "end": {end}, "format": {format}}
			if ns != "" {
				q.Set("namespace", ns)
			}
			return c.stream(cmd.Context(), "/api/v1/metering/export?"+q.Encode(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&ns, "namespace", "", "the namespace (default: every namespace)")
	cmd.Flags().StringVar(&start, "start", "", "first day, UTC (2026-05-01)")
	cmd.Flags().StringVar(&end, "end", "", "last day, included (2026-05-31)")
	cmd.Flags().StringVarP(&format, "format", "o", "csv", "csv or json")
	return cmd
}
