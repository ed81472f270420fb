package cli

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/units"
)

func statusCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster: nodes and namespaces by phase",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, &o, "/api/v1/status", func(w *tabwriter.Writer, st api.StatusReply) {
				fmt.Fprintf(w, "Cluster:\t%s\n", st.Cluster)
				fmt.Fprintf(w, "This node:\t%s\n", st.Node)
				fmt.Fprintf(w, "Router:\t%s\n", st.RouterAddress)
				if st.Pool != nil {
					fmt.Fprintf(w, "Warm pool:\t%d ready of %d (%d alive)\n", st.Pool.Ready, st.Pool.Size, st.Pool.Alive)
				} else {
					fmt.Fprintf(w, "Warm pool:\toff\n")
				}
				if m := st.Memory; m != nil && m.BudgetBytes > 0 {
					fmt.Fprintf(w, "Memory budget:\t%s of %s held\n", units.FormatBytes(m.UsedBytes), units.FormatBytes(m.BudgetBytes))
				}
				if m := st.Metering; m != nil {
					if m.Backend == "off" {
						fmt.Fprintf(w, "Metering:\toff (metering.enabled=false: no usage is recorded)\n")
					} else {
						fmt.Fprintf(w, "Metering:\t%s, %s ledger, events kept %s; %d written, %d queued (a crash loses at most the queued), %d dropped\n",
							m.Backend, m.Ledger, m.Retention, m.Written, m.Queued, m.Dropped)
					}
				}
				zramLines(w, st)
				fmt.Fprintf(w, "Namespaces:\t%d\n", st.Namespaces)
				phases := make([]string, 0, len(st.Phases))
				for p := range st.Phases {
					phases = append(phases, string(p))
				}
				sort.Strings(phases)
				for _, p := range phases {
					fmt.Fprintf(w, "  %s:\t%d\n", p, st.Phases[namespace.Phase(p)])
				}
				if len(st.Public) > 0 {
					fmt.Fprintf(w, "Public:\t%s (no API key needed; close with: clawd config set namespaces.<ns>.auth.requireKey true)\n", strings.Join(st.Public, ", "))
				}
				for _, f := range st.Failing {
					fmt.Fprintf(w, "Failed:\t%s, next try %s: %s\n", f.Name, nextTry(f.NextTry), f.Reason)
				}
				if b := st.Billing; b != nil && b.Configured {
					fmt.Fprintf(w, "Billing:\t%s, %d plans, %d subscribed\n", b.Provider, b.Plans, b.Subscribed)
					if len(b.PastDue) > 0 {
						fmt.Fprintf(w, "  Past due:\t%s\n", strings.Join(b.PastDue, ", "))
					}
					if len(b.Suspended) > 0 {
						fmt.Fprintf(w, "  Suspended:\t%s (requests get 402)\n", strings.Join(b.Suspended, ", "))
					}
					u := b.Usage
					switch {
					case !u.Ledger:
						fmt.Fprintf(w, "  Usage:\tnot sent (no usage ledger on this node)\n")
					case u.Failures > 0:
						fmt.Fprintf(w, "  Usage:\t%d hours not sent, %d failed tries in a row, retried every minute: %s\n", u.Behind, u.Failures, u.LastError)
					default:
						fmt.Fprintf(w, "  Usage:\t%d meter events sent, %d hours behind\n", u.Sent, u.Behind)
					}
					if u.Skipped > 0 {
						fmt.Fprintf(w, "  \t%d hours older than Stripe's 35-day window were not sent\n", u.Skipped)
					}
					if u.Late > 0 {
						fmt.Fprintf(w, "  \t%d meter events billed usage that reached the ledger after its hour was sent\n", u.Late)
					}
				}
				nodeTable(w, st.Nodes)
			})
		},
	}
	o.register(cmd)
	return cmd
}

// zramLines shows the Compressed tier: its zram device and pool, or why it
// is off, and what each Compressed namespace holds.
func zramLines(w *tabwriter.Writer, st api.StatusReply) {
	z := st.Zram
	switch {
	case z == nil:
		return
	case !z.Enabled:
		fmt.Fprintf(w, "Compressed tier:\toff: %s (namespaces asked to be Compressed stay Paused)\n", z.Reason)
	default:
		ratio := "-"
		if z.Pool.Compressed > 0 {
			ratio = fmt.Sprintf("%.1fx", float64(z.Pool.Original)/float64(z.Pool.Compressed))
		}
		fmt.Fprintf(w, "Compressed tier:\t%s, %s, %s; holds %s in %s (%s), pool uses %s\n", z.Device, z.Algorithm,
			units.FormatBytes(z.DiskSize), units.FormatBytes(int64(z.Pool.Original)), units.FormatBytes(int64(z.Pool.Compressed)), ratio, units.FormatBytes(int64(z.Pool.Used)))
	}
	for _, c := range st.Compressed {
		fmt.Fprintf(w, "  %s:\t%s resident, %s compressed\n", c.Name, units.FormatBytes(c.ResidentBytes), units.FormatBytes(c.CompressedBytes))
	}
}
