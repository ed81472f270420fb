package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/audit"
)

func auditCmd() *cobra.Command {
	cmd := group("audit", "The tamper-evident audit log: query, export and verify a namespace's records",
		auditQueryCmd(), auditExportCmd(), auditVerifyCmd())
	cmd.Long = "Event types: api_call, config_change, apikey, auth, namespace, quota, billing, skill, admin.\n" +
		"Each namespace's records form a hash chain whose head is anchored in etcd; --cluster selects the\n" +
		"cluster-wide chain (events no namespace owns, such as refused admin tokens)."
	return cmd
}

// auditScope reads --namespace/--cluster into the API's namespace parameter.
func auditScope(ns string, cluster bool) (url.Values, error) {
	switch {
	case ns == "" && !cluster:
		return nil, errors.New("--namespace is required (or --cluster for the cluster-wide records)")
	case ns != "" && cluster:
		return nil, errors.New("--namespace and --cluster exclude each other")
	}
	return url.Values{"namespace": {ns}}, nil
}

func auditQueryCmd() *cobra.Command {
	var ns, start, end, types, format string
	var cluster, newest bool
	var limit int
	cmd := &cobra.Command{
		Use:   "query --namespace=NS [--start=…] [--end=…] [--event-type=api_call,auth] [--newest-first --limit=N] [-o json]",
		Short: "A namespace's audit records, oldest first (--newest-first: newest first)",
		Example: `  clawd audit query --namespace=tenant-a --start=2026-05-01 --end=2026-05-31 --event-type=config_change
  clawd audit query --namespace=tenant-a --event-type=auth -o json`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := auditScope(ns, cluster)
			if err != nil {
				return err
			}
			if !slices.Contains([]string{"table", "json", "yaml"}, format) {
				return fmt.Errorf("invalid -o %q: use table, json or yaml", format)
			}
			// The daemon checks too; this names the flag at once.
			if _, err := audit.ParseQuery(ns, start, end, types); err != nil {
				return err
			}
			for k, v := range map[string]string{"start": start, "end": end, "type": types} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			if newest {
				q.Set("order", "desc")
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var recs []audit.Record
			if err := c.do(cmd.Context(), "GET", "/api/v1/audit/records?"+q.Encode(), nil, &recs); err != nil {
				return err
			}
			o := output{format: format}
			return o.print(cmd.OutOrStdout(), recs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "SEQ\tTIME\tTYPE\tACTOR\tACTION\tTARGET\tOUTCOME\tCHANGE")
				for _, r := range recs {
					change := ""
					if r.Before != "" || r.After != "" {
						change = fmt.Sprintf("%q -> %q", r.Before, r.After)
					} else if r.Detail != "" {
						change = r.Detail
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Format("2006-01-02T15:04:05Z"), r.Type, r.Actor, r.Action, r.Target, r.Outcome, change)
				}
			})
		},
	}
	cmd.Flags().StringVar(&ns, "namespace", "", "the namespace")
	cmd.Flags().BoolVar(&cluster, "cluster", false, "the cluster-wide records instead of a namespace's")
	cmd.Flags().StringVar(&start, "start", "", "from this time (RFC 3339) or day (2026-05-01), UTC")
	cmd.Flags().StringVar(&end, "end", "", "until this time (excluded) or day (included)")
	cmd.Flags().StringVar(&types, "event-type", "", "comma-separated event types, or all")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many records (0: all); with --newest-first the newest")
	cmd.Flags().BoolVar(&newest, "newest-first", false, "newest records first")
	cmd.Flags().StringVarP(&format, "output", "o", "table", "table, json or yaml")
	return cmd
}

func auditExportCmd() *cobra.Command {
	var ns, period, format, file string
	var cluster bool
	cmd := &cobra.Command{
		Use:   "export --namespace=NS --period=2026-Q2|2026-05 --format=pdf|json|csv [--file=PATH]",
		Short: "A namespace's audit records over a period as a report",
		Example: `  clawd audit export --namespace=tenant-a --period=2026-Q2 --format=pdf --file=tenant-a-2026-Q2.pdf
  clawd audit export --namespace=tenant-a --period=2026-05 --format=csv > may.csv`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := auditScope(ns, cluster)
			if err != nil {
				return err
			}
			if period == "" {
				return errors.New("--period is required: 2026-05, 2026-Q2, 2026 or 2026-05-01..2026-05-31")
			}
			if !slices.Contains([]string{audit.FormatPDF, audit.FormatJSON, audit.FormatCSV}, format) {
				return fmt.Errorf("invalid --format %q: use pdf, json or csv", format)
			}
			q.Set("period", period)
			q.Set("format", format)
			c, err := newClient()
			if err != nil {
				return err
			}
			var out io.Writer = cmd.OutOrStdout()
			if file != "" {
				f, err := os.Create(file)
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			if err := c.stream(cmd.Context(), "/api/v1/audit/export?"+q.Encode(), out); err != nil {
				if file != "" {
					os.Remove(file)
				}
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&ns, "namespace", "", "the namespace")
	cmd.Flags().BoolVar(&cluster, "cluster", false, "the cluster-wide records instead of a namespace's")
	cmd.Flags().StringVar(&period, "period", "", "a month (2026-05), a quarter (2026-Q2), a year, or days (2026-05-01..2026-05-31), UTC")
	cmd.Flags().StringVar(&format, "format", "json", "pdf, json or csv")
	cmd.Flags().StringVar(&file, "file", "", "write the report here instead of to stdout")
	return cmd
}

func auditVerifyCmd() *cobra.Command {
	var ns, format string
	var cluster bool
	cmd := &cobra.Command{
		Use:   "verify --namespace=NS",
		Short: "Check a namespace's hash chain and its anchor in etcd; names the first broken record",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := auditScope(ns, cluster)
			if err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var v audit.Verification
			if err := c.do(cmd.Context(), "GET", "/api/v1/audit/verify?"+q.Encode(), nil, &v); err != nil {
				return err
			}
			if format == "json" {
				o := output{format: format}
				if err := o.print(cmd.OutOrStdout(), v, nil); err != nil {
					return err
				}
			} else if v.OK {
				anchor := "no anchor yet"
				if v.Anchor != nil {
					anchor = fmt.Sprintf("anchored in etcd at record %d", v.Anchor.Seq)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %d records, head %d %s, %s\n", v.Records, v.Head.Seq, v.Head.Hash, anchor)
			}
			if !v.OK {
				return fmt.Errorf("audit chain of %s is broken at record %d: %s", scopeName(ns), v.BrokenSeq, v.Reason)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&ns, "namespace", "", "the namespace")
	cmd.Flags().BoolVar(&cluster, "cluster", false, "the cluster-wide chain instead of a namespace's")
	cmd.Flags().StringVarP(&format, "output", "o", "text", "text or json")
	return cmd
}

func scopeName(ns string) string {
	if ns == "" {
		return "the cluster"
	}
	return ns
}
