package cli

import "github.com/spf13/cobra"

// group is a command that only holds others (clawd secrets, clawd node,
// …): its name, its one line of help and its subcommands.
func group(use, short string, cmds ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	cmd.AddCommand(cmds...)
	return cmd
}

// alias gives cmd other names and returns it.
func alias(cmd *cobra.Command, names ...string) *cobra.Command {
	cmd.Aliases = names
	return cmd
}
