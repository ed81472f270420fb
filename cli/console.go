package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func consoleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "console",
		Short: "Print the URL of the operator console (served by the daemon's admin API)",
		Long: "Print the URL of the operator console. Open it in a browser on a machine that reaches the admin API " +
			"and sign in once with the admin token (the content of admin.token in the data dir).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			// Checks that the daemon answers and the token is right, so
			// the URL printed is one that works.
			var st struct{}
			if err := c.do(cmd.Context(), "GET", "/api/v1/status", nil, &st); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), c.addr+"/console/")
			return nil
		},
	}
}
