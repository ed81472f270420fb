package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/secrets"
)

func secretsCmd() *cobra.Command {
	return group("secrets", "The keys that seal stored secrets (provider keys, sign-in client secrets, Stripe keys)",
		secretsStatusCmd(), secretsRotateCmd())
}

func secretsStatusCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the key source, its key version, and the stored secrets by sealed format",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, &o, "/api/v1/secrets/status", func(w *tabwriter.Writer, st secrets.Status) {
				fmt.Fprintf(w, "KEY SOURCE\t%s\n", st.Source)
				fmt.Fprintf(w, "KEY VERSION\t%d\n", st.Version)
				for _, f := range sortedKeys(st.Formats) {
					fmt.Fprintf(w, "FORMAT %s\t%d\n", f, st.Formats[f])
				}
				for _, k := range sortedKeys(st.Kinds) {
					fmt.Fprintf(w, "%s\t%d\n", strings.ToUpper(k), st.Kinds[k])
				}
				fmt.Fprintf(w, "TO REWRAP\t%d\n", st.Stale)
			})
		},
	}
	o.register(cmd)
	return cmd
}

func secretsRotateCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Rewrap every stored secret's data key under the current key version (no ciphertext is rewritten)",
		Long: `Rewrap every stored secret's data key under the key source's current version.
With the key file source a new key version is made first (<keyFile>.<N>, mode 0600;
copy it to every node of a cluster). With vault, rotate the transit key in Vault first
(vault write -f transit/keys/NAME/rotate); with env, append the new key to
CLAWD_SECRETS_KEY and restart. Secrets sealed before envelopes (v1) are resealed as v2.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var rep secrets.RotateReport
			if err := c.do(cmd.Context(), "POST", "/api/v1/secrets/rotate", nil, &rep); err != nil {
				return err
			}
			if o.format != "table" {
				return o.print(cmd.OutOrStdout(), rep, nil)
			}
			made := ""
			if rep.NewVersion {
				made = " (new)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secrets rotated to %s key version %d%s: %d rewrapped, %d upgraded from v1, %d resealed from another source, %d already current\n",
				rep.Source, rep.Version, made, rep.Counts[secrets.Rewrapped], rep.Counts[secrets.Upgraded], rep.Counts[secrets.Resealed], rep.Counts[secrets.Unchanged])
			if len(rep.Failed) > 0 {
				for _, k := range sortedKeys(rep.Failed) {
					fmt.Fprintf(cmd.ErrOrStderr(), "not rotated: %s: %s\n", k, rep.Failed[k])
				}
				return errors.New("some secrets were not rotated (left as they were); fix them and rotate again")
			}
			return nil
		},
	}
	o.register(cmd)
	return cmd
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
