// Package cli is the clawd command line: every command but `up` is a thin
// client of the daemon's admin API.
package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// NewRoot builds the command tree; up is the daemon command, wired by main.
func NewRoot(up *cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:           "clawd",
		Short:         "Host OpenClaw gateways for many tenants on one machine or a small cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(up, statusCmd(), namespaceCmd(), configCmd(), apikeyCmd(), providerCmd(), meteringCmd(), billingCmd(), authCmd(), consoleCmd(), auditCmd(), secretsCmd(), nodeCmd())
	return root
}

// Main runs the CLI and exits: errors are one line on stderr and status 1.
func Main(root *cobra.Command) {
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "clawd: %s\n", oneLine(err.Error()))
		os.Exit(1)
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// output is the -o flag of every listing.
type output struct{ format string }

func (o *output) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "table", "output format: table, json or yaml")
}

func (o *output) check() error {
	switch o.format {
	case "table", "json", "yaml":
		return nil
	}
	return fmt.Errorf("invalid --output %q: use table, json or yaml", o.format)
}

// show GETs path from the admin API and prints the reply as o asks, its
// table drawn by table.
func show[T any](cmd *cobra.Command, o *output, path string, table func(*tabwriter.Writer, T)) error {
	if err := o.check(); err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	var v T
	if err := c.do(cmd.Context(), "GET", path, nil, &v); err != nil {
		return err
	}
	return o.print(cmd.OutOrStdout(), v, func(w *tabwriter.Writer) { table(w, v) })
}

// print writes v as JSON or YAML, or calls table for the default format.
func (o *output) print(w io.Writer, v any, table func(*tabwriter.Writer)) error {
	switch o.format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(raw)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// age prints how long ago t was, the way kubectl does.
func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
