package cli

import (
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/apikey"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/units"
)

// shownOnce is the guide's warning after a new key, in English and in the
// guide's own words.
const shownOnce = "Keep this key safe: it is shown only once and cannot be recovered.\n请妥善保管,此密钥只显示一次!\n"

func apikeyCmd() *cobra.Command {
	cmd := group("apikey", "Create, list and revoke tenants' API keys",
		apikeyCreateCmd(), apikeyListCmd(), apikeyRevokeCmd())
	return alias(cmd, "apikeys", "api-key", "api-keys")
}

// namespaceFlag adds --namespace, also spelled --tenant or --ns like the
// namespace command's aliases.
func namespaceFlag(cmd *cobra.Command, ns *string) {
	cmd.Flags().StringVar(ns, "namespace", "", "the namespace (tenant) the keys belong to")
	cmd.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "tenant" || name == "ns" {
			name = "namespace"
		}
		return pflag.NormalizedName(name)
	})
}

func checkNamespaceFlag(ns string) error {
	if ns == "" {
		return fmt.Errorf("--namespace is required")
	}
	return namespace.ValidateName(ns)
}

func apikeyCreateCmd() *cobra.Command {
	var ns string
	var req api.CreateAPIKeyRequest
	var o output
	cmd := &cobra.Command{
		Use:     "create --namespace=NS [--name=NAME] [--rate-limit=N/PERIOD] [--expires-in=DURATION]",
		Short:   "Create an API key; the key is printed once and cannot be shown again",
		Example: `  clawd apikey create --namespace=tenant-a --name="tenant-a-production" --rate-limit=1000/hour --expires-in=365d`,
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			if err := checkNamespaceFlag(ns); err != nil {
				return err
			}
			// Check locally first so a typo fails before the round trip.
			if req.RateLimit != "" {
				if _, err := units.ParseRate(req.RateLimit); err != nil {
					return fmt.Errorf("--rate-limit: %w", err)
				}
			}
			if req.ExpiresIn != "" {
				if _, err := units.ParseDuration(req.ExpiresIn); err != nil {
					return fmt.Errorf("--expires-in: %w", err)
				}
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var k api.CreatedAPIKey
			if err := c.do(cmd.Context(), "POST", "/api/v1/namespaces/"+url.PathEscape(ns)+"/apikeys", req, &k); err != nil {
				return err
			}
			// The secret goes to stdout alone, so `KEY=$(clawd apikey create …)`
			// style scripts get it; everything else is for the human.
			if o.format == "table" {
				fmt.Fprintf(cmd.OutOrStdout(), "API Key: %s\n", k.Key)
				fmt.Fprintf(cmd.ErrOrStderr(), "id %s, namespace %s, rate limit %s, expires %s\n",
					k.ID, k.Namespace, rateOrUnlimited(k.RateLimit), when(k.ExpiresAt, "never"))
			} else if err := o.print(cmd.OutOrStdout(), k, nil); err != nil {
				return err
			}
			fmt.Fprint(cmd.ErrOrStderr(), shownOnce)
			return nil
		},
	}
	namespaceFlag(cmd, &ns)
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "a label for the key, e.g. tenant-a-production")
	f.StringVar(&req.RateLimit, "rate-limit", "", "requests allowed per key, N/second|minute|hour|day, e.g. 1000/hour (default unlimited)")
	f.StringVar(&req.ExpiresIn, "expires-in", "", "lifetime, e.g. 365d, 12h (default never expires)")
	o.register(cmd)
	return cmd
}

func apikeyListCmd() *cobra.Command {
	var ns string
	var o output
	cmd := &cobra.Command{
		Use:     "list --namespace=NS",
		Aliases: []string{"ls"},
		Short:   "List a namespace's API keys (never the keys themselves)",
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkNamespaceFlag(ns); err != nil {
				return err
			}
			return show(cmd, &o, "/api/v1/namespaces/"+url.PathEscape(ns)+"/apikeys", func(w *tabwriter.Writer, list []api.APIKey) {
				fmt.Fprintln(w, "ID\tNAME\tPREFIX\tRATE LIMIT\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
				for _, k := range list {
					fmt.Fprintf(w, "%s\t%s\t%s…\t%s\t%s\t%s\t%s\t%s\n", k.ID, dash(k.Name), k.Prefix, rateOrUnlimited(k.RateLimit),
						when(k.CreatedAt, "-"), when(k.ExpiresAt, "never"), when(k.LastUsedAt, "never"), k.Status)
				}
			})
		},
	}
	namespaceFlag(cmd, &ns)
	o.register(cmd)
	return cmd
}

func apikeyRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke an API key; the router refuses it from the next request",
		Args:  exactArgs(1, "KEY_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := apikey.ValidID(id); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var k api.APIKey
			if err := c.do(cmd.Context(), "DELETE", "/api/v1/apikeys/"+id, nil, &k); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "API key %s (%s) of namespace %s revoked\n", k.ID, k.Prefix+"…", k.Namespace)
			return nil
		},
	}
}

func rateOrUnlimited(r string) string {
	if r == "" {
		return "unlimited"
	}
	return r
}

// when prints a time in local time to the minute, or none for the zero time.
func when(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.Local().Format("2006-01-02 15:04")
}
