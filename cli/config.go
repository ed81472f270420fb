package cli

import (
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/config"
)

func configCmd() *cobra.Command {
	return group("config", "Set and read dynamic configuration (the guide's dotted keys)",
		configSetCmd(), configGetCmd(), configListCmd(), configKeysCmd())
}

func configSetCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Set a key; namespaces.*.KEY sets the default for every namespace",
		Example: `  clawd config set namespaces.tenant-a.models.primary "gpt-4o"
  clawd config set security.crossNamespaceAccess false
  clawd config set namespaces.*.autoCleanup.after="1h"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 || (len(args) == 1 && strings.Contains(args[0], "=")) {
				return nil
			}
			return fmt.Errorf("usage: clawd config set KEY VALUE (or KEY=VALUE)")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			key, value := splitKeyValue(args)
			// Validate here too, so a typo never needs the daemon to be told.
			if _, _, err := config.Lookup(key); err != nil {
				return err
			}
			if _, err := config.Normalize(key, value); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var e api.ConfigEntry
			if err := c.do(cmd.Context(), "PUT", "/api/v1/config/"+url.PathEscape(key), api.SetConfigRequest{Value: value}, &e); err != nil {
				return err
			}
			if o.format != "table" {
				return o.print(cmd.OutOrStdout(), e, nil)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s = %s\n", e.Key, e.Value)
			if e.Note != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %s\n", e.Note)
			}
			return nil
		},
	}
	o.register(cmd)
	return cmd
}

func splitKeyValue(args []string) (string, string) {
	if len(args) == 2 {
		return args[0], args[1]
	}
	k, v, _ := strings.Cut(args[0], "=")
	return k, v
}

func configGetCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Show a key's effective value and where it comes from",
		Args:  exactArgs(1, "KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			if _, _, err := config.Lookup(args[0]); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var e api.ConfigEntry
			if err := c.do(cmd.Context(), "GET", "/api/v1/config/"+url.PathEscape(args[0]), nil, &e); err != nil {
				return err
			}
			if o.format != "table" {
				return o.print(cmd.OutOrStdout(), e, nil)
			}
			fmt.Fprintln(cmd.OutOrStdout(), e.Value)
			if e.Source != e.Key {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: inherited from %s\n", e.Source)
			}
			if e.Note != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %s\n", e.Note)
			}
			return nil
		},
	}
	o.register(cmd)
	return cmd
}

func configListCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every key that is set",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var list []api.ConfigEntry
			if err := c.do(cmd.Context(), "GET", "/api/v1/config", nil, &list); err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "KEY\tVALUE\tIN EFFECT")
				for _, e := range list {
					fmt.Fprintf(w, "%s\t%s\t%s\n", e.Key, e.Value, yesNo(e.Implemented))
				}
			})
		},
	}
	o.register(cmd)
	return cmd
}

func configKeysCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List the valid keys, their defaults and whether clawd acts on them yet",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			keys := config.Keys()
			return o.print(cmd.OutOrStdout(), keys, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "KEY\tDEFAULT\tIN EFFECT\tDESCRIPTION")
				for _, k := range keys {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Pattern, dash(k.Default), yesNo(k.Implemented), k.Description)
				}
			})
		},
	}
	o.register(cmd)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "not yet"
}
