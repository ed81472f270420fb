package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/placement"
)

func nodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "node",
		Aliases: []string{"nodes"},
		Short:   "The cluster's nodes: where namespaces run",
	}
	cmd.AddCommand(nodeListCmd())
	return cmd
}

func nodeListCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the live nodes with their labels, namespaces and memory budget",
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, &o, "/api/v1/nodes", func(w *tabwriter.Writer, nodes []placement.NodeSummary) {
				nodeTable(w, nodes)
			})
		},
	}
	o.register(cmd)
	return cmd
}

// nodeTable prints nodes for node list and status.
func nodeTable(w *tabwriter.Writer, nodes []placement.NodeSummary) {
	fmt.Fprintln(w, "\nNODE\tADDRESS\tLABELS\tNAMESPACES\tBUDGET\tPLACED\tFREE\tUP SINCE\tLAST SEEN")
	for _, n := range nodes {
		budget, free := "none", "-"
		if n.MemoryBudget > 0 {
			budget = mem(n.MemoryBudget)
		}
		if n.Free != nil {
			free = mem(*n.Free)
			if *n.Free < 0 {
				free = "-" + mem(-*n.Free)
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s ago\n", n.Name, dash(n.Address), dash(placement.SelectorText(n.Labels)),
			n.Namespaces, budget, mem(n.Placed), free, age(n.StartedAt), age(n.SeenAt))
	}
}
