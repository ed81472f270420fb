package cli

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/placement"
)

func nodeDrainCmd() *cobra.Command {
	var undo bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "drain NAME",
		Short: "Move every namespace off a node (stop, re-place, start) and place nothing new there",
		Long: `Marks the node draining, then moves each of its namespaces to the live node with the
most free budget: a running gateway is stopped on the node, then started on the
other one on the same data, so the volumes must be on shared storage
(clawd up --volumes.shared); a paused or stopped namespace is only re-placed.
--undo lets namespaces be placed on the node again.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			// Each running gateway is stopped before it moves: a drain
			// takes longer than the client's usual 30 s.
			c.http.Timeout = timeout
			path := "/api/v1/nodes/" + args[0] + "/drain"
			if undo {
				if err := c.do(cmd.Context(), "DELETE", path, nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "node %s takes namespaces again\n", args[0])
				return nil
			}
			var rep api.DrainReply
			if err := c.do(cmd.Context(), "POST", path, nil, &rep); err != nil {
				return err
			}
			for _, m := range rep.Moved {
				fmt.Fprintf(os.Stderr, "namespace %s (%s) moved to %s\n", m.Namespace, m.Phase, m.To)
			}
			fmt.Fprintf(os.Stderr, "node %s drained: %d namespaces moved; nothing new is placed there (--undo to allow)\n", rep.Node, len(rep.Moved))
			return nil
		},
	}
	cmd.Flags().BoolVar(&undo, "undo", false, "let namespaces be placed on the node again")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "how long to wait for the drain (each running gateway is stopped, then started elsewhere)")
	return cmd
}

func nodeCmd() *cobra.Command {
	return alias(group("node", "The cluster's nodes: where namespaces run", nodeListCmd(), nodeDrainCmd()), "nodes")
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
	fmt.Fprintln(w, "\nNODE\tADDRESS\tLABELS\tNAMESPACES\tBUDGET\tPLACED\tFREE\tUP SINCE\tLAST SEEN\tDRAINING")
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
		draining := "-"
		if n.Draining {
			draining = "yes"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s ago\t%s\n", n.Name, dash(n.Address), dash(placement.SelectorText(n.Labels)),
			n.Namespaces, budget, mem(n.Placed), free, age(n.StartedAt), age(n.SeenAt), draining)
	}
}
