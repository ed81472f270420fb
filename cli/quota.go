package cli

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/units"
)

func nsApplyQuotaCmd() *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "apply-quota NAME --from=FILE",
		Short: "Set a namespace's quotas from a quota file (the guide's format; - reads stdin)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := namespace.ValidateName(args[0]); err != nil {
				return err
			}
			if from == "" {
				return fmt.Errorf("--from is required: the quota file, e.g. --from=configs/tenant-a-quota.yaml")
			}
			var raw []byte
			var err error
			if from == "-" {
				raw, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
			} else {
				raw, err = os.ReadFile(from)
			}
			if err != nil {
				return fmt.Errorf("reading the quota file: %w", err)
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "PUT", "/api/v1/namespaces/"+url.PathEscape(args[0])+"/quota", api.ApplyQuotaRequest{File: string(raw)}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "quotas of %s set from %s; see them with: clawd namespace quota-status %s\n", args[0], from, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the quota file (YAML; - for stdin)")
	return cmd
}

func nsQuotaStatusCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "quota-status [NAME]",
		Short: "Show a namespace's quotas (limit, used, remaining, reset) and its model calls and tokens today; without NAME, every namespace's in one table",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return show(cmd, &o, "/api/v1/quota-status", quotaStatusTable)
			}
			if err := namespace.ValidateName(args[0]); err != nil {
				return err
			}
			return show(cmd, &o, "/api/v1/namespaces/"+url.PathEscape(args[0])+"/quota-status", func(w *tabwriter.Writer, qs api.QuotaStatus) {
				if len(qs.Quotas) > 0 {
					fmt.Fprintln(w, "QUOTA\tLIMIT\tUSED\tREMAINING\tRESETS")
					for _, k := range quotaOrder(qs.Quotas) {
						q := qs.Quotas[k]
						used, rem, resets := "-", "-", "-"
						if q.Used != nil {
							used, rem = quantity(*q.Used, q.Unit), quantity(*q.Remaining, q.Unit)
						}
						if q.Resets != nil {
							resets = q.Resets.UTC().Format(time.DateTime) + " UTC"
						}
						if !q.Enforced {
							resets = "(not enforced yet)"
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k, quantity(q.Limit, q.Unit), used, rem, resets)
					}
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "model usage of %s today (%s UTC)\n", qs.Namespace, qs.Day)
				fmt.Fprintln(w, "MODEL\tCALLS\tERRORS\tINPUT TOKENS\tOUTPUT TOKENS\tESTIMATED CALLS")
				for _, m := range append(qs.Models, qs.Totals) {
					fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\n", m.Model, m.Calls, m.Errors, m.InputTokens, m.OutputTokens, m.EstimatedCalls)
				}
			})
		},
	}
	o.register(cmd)
	return cmd
}

// quotaStatusTable is every namespace's day and hour against its quotas.
func quotaStatusTable(w *tabwriter.Writer, list []api.QuotaStatus) {
	fmt.Fprintln(w, "NAMESPACE\tCALLS TODAY\tTOKENS TODAY\tTOKENS/DAY\tREQUESTS THIS HOUR\tREQUESTS/HOUR")
	limit := func(qs api.QuotaStatus, key string) string {
		if l, ok := qs.Quotas[key]; ok {
			return fmt.Sprint(l.Limit)
		}
		return "-"
	}
	for _, qs := range list {
		requests := "-"
		if l, ok := qs.Quotas["api.requestsPerHour"]; ok && l.Used != nil {
			requests = fmt.Sprint(*l.Used)
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\n", qs.Namespace, qs.Totals.Calls, qs.Totals.InputTokens+qs.Totals.OutputTokens,
			limit(qs, "api.tokensPerDay"), requests, limit(qs, "api.requestsPerHour"))
	}
}

func quantity(n int64, unit string) string {
	switch unit {
	case "bytes":
		return units.FormatBytes(n)
	case "millicores":
		return units.FormatCPU(n)
	}
	return fmt.Sprint(n)
}

// quotaOrder lists quota keys in the quota file's order.
func quotaOrder(m map[string]api.QuotaLine) []string {
	sections := []string{"compute.", "storage.", "api.", "skills.", "models."}
	rank := func(k string) int {
		for i, p := range sections {
			if strings.HasPrefix(k, p) {
				return i
			}
		}
		return len(sections)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return keys
}
