package cli

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/retention"
	"github.com/clawd-dev/clawd/units"
)

func nsCleanupCmd() *cobra.Command {
	var (
		olderThan string
		dryRun    bool
		kinds     []string
		list      bool
		o         output
	)
	cmd := &cobra.Command{
		Use:   "cleanup NAME --older-than=90d [--dry-run=false]",
		Short: "List (the default: a dry run) or remove a namespace's conversations, logs and usage rows older than a duration, without waking it",
		Long: `Counts and sizes per kind what is older than --older-than:
  conversations  OpenClaw's transcript files in the data volume and, while the
                 namespace is stopped or evicted, the conversations in its agent
                 database (a running gateway's database is left to a later pass)
  logs           the files under logs/ in the data volume
  metrics        the namespace's usage rows in the ledger (raw events, roll-ups)
Nothing is removed unless --dry-run=false. A removal is audited (type retention).`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			if olderThan == "" {
				return fmt.Errorf("--older-than is required, e.g. --older-than=90d")
			}
			if _, err := units.ParseDuration(olderThan); err != nil {
				return fmt.Errorf("invalid --older-than: %v", err)
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			body := map[string]any{"olderThan": olderThan, "dryRun": dryRun}
			if len(kinds) > 0 {
				body["kinds"] = kinds
			}
			var rep retention.Report
			if err := c.do(cmd.Context(), "POST", "/api/v1/namespaces/"+url.PathEscape(args[0])+"/cleanup", body, &rep); err != nil {
				return err
			}
			if err := o.print(cmd.OutOrStdout(), rep, func(w *tabwriter.Writer) { cleanupTable(w, rep, list) }); err != nil {
				return err
			}
			if rep.Failed() {
				return fmt.Errorf("cleanup of %s failed for some kinds (see ERROR)", args[0])
			}
			if rep.DryRun && o.format == "table" {
				fmt.Fprintf(os.Stderr, "dry run: nothing was removed; run with --dry-run=false to remove it\n")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "remove what is older than this, e.g. 90d, 2w, 36h (0s: everything not being written now)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", true, "only list what would be removed")
	cmd.Flags().StringSliceVar(&kinds, "kind", nil, "only these kinds: conversations, logs, metrics (default: all)")
	cmd.Flags().BoolVar(&list, "list", false, "list every file and conversation, not only the counts")
	o.register(cmd)
	return cmd
}

func cleanupTable(w *tabwriter.Writer, rep retention.Report, list bool) {
	verb := "REMOVED"
	if rep.DryRun {
		verb = "FOUND"
	}
	fmt.Fprintf(w, "KIND\tOLDER THAN\tCUTOFF\t%s\tBYTES\tNOTE\n", verb)
	for _, k := range rep.Kinds {
		var note []string
		if k.Skipped > 0 {
			note = append(note, fmt.Sprintf("%d links/special files left alone", k.Skipped))
		}
		if k.Deferred != "" {
			note = append(note, k.Deferred)
		}
		if k.Error != "" {
			note = append(note, "ERROR: "+k.Error)
		}
		unit := map[retention.Kind]string{retention.Conversations: "items", retention.Logs: "files", retention.Metrics: "rows"}[k.Kind]
		fmt.Fprintf(w, "%s\t%s\t%s\t%d %s\t%s\t%s\n", k.Kind, k.OlderThan, k.Cutoff.Format("2006-01-02 15:04:05Z"), k.Count, unit,
			units.FormatBytes(k.Bytes), strings.Join(note, "; "))
	}
	if !list {
		return
	}
	for _, k := range rep.Kinds {
		for _, it := range k.Items {
			if it.Rows > 0 {
				fmt.Fprintf(w, "  %s\t%s\t%d rows\n", k.Kind, it.Path, it.Rows)
				continue
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\n", k.Kind, it.Path, units.FormatBytes(it.Bytes))
		}
	}
}
