package cli

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/billing"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
)

func billingCmd() *cobra.Command {
	plan := alias(group("plan", "Plans: a price, an interval and the quotas subscribers get",
		billingPlanCreateCmd(), billingPlanListCmd()), "plans")
	return group("billing", "Bill tenants through Stripe: plans, subscriptions, usage, invoices",
		billingConfigureCmd(), plan, billingSubscribeCmd(), billingUnsubscribeCmd(), billingResumeCmd(), billingInvoicesCmd())
}

func billingConfigureCmd() *cobra.Command {
	var req billing.ConfigureRequest
	cmd := &cobra.Command{
		Use:     "configure --provider=stripe --api-key=sk_… --webhook-secret=whsec_…",
		Short:   "Store the Stripe keys (sealed); the API key is checked against Stripe at once",
		Example: `  clawd billing configure --provider=stripe --api-key=- --webhook-secret=whsec_… < stripe-key.txt`,
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.APIKey == "-" {
				key, err := readKey(cmd.InOrStdin())
				if err != nil {
					return err
				}
				req.APIKey = key
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var rep billing.ConfigureReply
			if err := c.do(cmd.Context(), "PUT", "/api/v1/billing/settings", req, &rep); err != nil {
				return err
			}
			mode := "test mode"
			if rep.Livemode {
				mode = "live mode"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "billing configured: Stripe (%s) accepted the key; point Stripe's webhook at https://<admin address>/api/v1/billing/stripe/webhook\n", mode)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Provider, "provider", "stripe", "the payment provider: stripe")
	f.StringVar(&req.APIKey, "api-key", "", "Stripe secret key (sk_… or rk_…); - reads it from standard input")
	f.StringVar(&req.WebhookSecret, "webhook-secret", "", "the webhook endpoint's signing secret (whsec_…)")
	return cmd
}

func billingPlanCreateCmd() *cobra.Command {
	var req billing.PlanRequest
	var quotas, tokens, requests, storage string
	cmd := &cobra.Command{
		Use:   "create --name=NAME --price=99.00 --currency=USD --interval=month [--quotas=@FILE]",
		Short: "Create a plan: a Stripe product and recurring price, metered prices if given, the quotas subscribers get",
		Example: `  clawd billing plan create --name=basic --price=99.00 --currency=USD --interval=month --quotas=@tenant-b-quota.yaml
  clawd billing plan create --name=pro --price=299 --currency=EUR --interval=month --price-per-1k-tokens=0.02`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Everything is checked here and again by the daemon, before
			// anything reaches Stripe.
			if err := namespace.ValidateName(req.Name); err != nil {
				return fmt.Errorf("invalid --name %q: use 1-40 lowercase letters, digits and '-'", req.Name)
			}
			cur, err := billing.ParseCurrency(req.Currency)
			if err != nil {
				return err
			}
			if _, err := billing.ParseAmount(req.Price, cur); err != nil {
				return err
			}
			if _, err := billing.ParseInterval(req.Interval); err != nil {
				return err
			}
			if quotas != "" {
				path := strings.TrimPrefix(quotas, "@")
				raw, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("reading the --quotas file: %w", err)
				}
				if _, err := quota.Parse(raw); err != nil {
					return fmt.Errorf("invalid --quotas file %s: %w", path, err)
				}
				req.Quotas = string(raw)
			}
			for k, v := range map[string]string{"tokens": tokens, "requests": requests, "storage": storage} {
				if v != "" {
					if req.Metered == nil {
						req.Metered = map[string]string{}
					}
					req.Metered[k] = v
				}
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var p billing.Plan
			if err := c.do(cmd.Context(), "POST", "/api/v1/billing/plans", req, &p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "plan %s created: %s per %s (Stripe price %s)\n", p.Name, billing.FormatAmount(p.Amount, p.Currency), p.Interval, p.PriceID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "the plan's name (unique)")
	f.StringVar(&req.Price, "price", "", "the recurring price, e.g. 99.00")
	f.StringVar(&req.Currency, "currency", "", "ISO 4217 currency, e.g. USD")
	f.StringVar(&req.Interval, "interval", "month", "billing interval: day, week, month or year")
	f.StringVar(&quotas, "quotas", "", "the quota file subscribers get (@FILE or FILE; the guide's format)")
	f.StringVar(&tokens, "price-per-1k-tokens", "", "metered: price per 1000 tokens (input + output)")
	f.StringVar(&requests, "price-per-1k-requests", "", "metered: price per 1000 API requests")
	f.StringVar(&storage, "price-per-gib-hour", "", "metered: price per GiB-hour of storage (each hour's largest sample)")
	return cmd
}

func billingPlanListCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List plans",
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, &o, "/api/v1/billing/plans", func(w *tabwriter.Writer, list []billing.Plan) {
				fmt.Fprintln(w, "NAME\tPRICE\tINTERVAL\tMETERED\tQUOTAS\tSTRIPE PRICE\tAGE")
				for _, p := range list {
					var metered []string
					for _, m := range p.Metered {
						metered = append(metered, fmt.Sprintf("%s %s/%s", m.Kind, m.Price, m.Per))
					}
					q := "-"
					if p.Quotas != "" {
						q = "yes"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, billing.FormatAmount(p.Amount, p.Currency), p.Interval,
						dash(strings.Join(metered, ", ")), q, p.PriceID, age(p.CreatedAt))
				}
			})
		},
	}
	o.register(cmd)
	return cmd
}

func billingSubscribeCmd() *cobra.Command {
	var req billing.SubscribeRequest
	cmd := &cobra.Command{
		Use:   "subscribe NAMESPACE --plan=PLAN [--payment-method=pm_…]",
		Short: "Subscribe a namespace to a plan (or change its plan); the plan's quotas apply at once",
		Args:  exactArgs(1, "NAMESPACE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := namespace.ValidateName(args[0]); err != nil {
				return err
			}
			if req.Plan == "" {
				return fmt.Errorf("--plan is required (see clawd billing plan list)")
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var cu billing.Customer
			if err := c.do(cmd.Context(), "PUT", "/api/v1/billing/subscriptions/"+url.PathEscape(args[0]), req, &cu); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s subscribed to %s (Stripe customer %s, subscription %s); its quotas are the plan's now\n", args[0], cu.Plan, cu.CustomerID, cu.SubscriptionID)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Plan, "plan", "", "the plan")
	cmd.Flags().StringVar(&req.PaymentMethod, "payment-method", "", "a Stripe payment method (pm_…) to attach and make the default")
	return cmd
}

func billingUnsubscribeCmd() *cobra.Command {
	return billingNamespaceCmd("unsubscribe NAMESPACE", "End a namespace's subscription now and remove its plan's quotas",
		"DELETE", "", "%s unsubscribed; its plan's quotas are removed\n")
}

func billingResumeCmd() *cobra.Command {
	return billingNamespaceCmd("resume NAMESPACE", "Lift a suspension for an unpaid invoice now (the invoice settled outside Stripe); the next request wakes it",
		"POST", "/resume", "%s resumed: no longer past due; the next request wakes it\n")
}

// billingNamespaceCmd is a command that sends one request about one
// namespace's subscription and says done (with the namespace's name).
func billingNamespaceCmd(use, short, method, suffix, done string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1, "NAMESPACE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := namespace.ValidateName(args[0]); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), method, "/api/v1/billing/subscriptions/"+url.PathEscape(args[0])+suffix, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), done, args[0])
			return nil
		},
	}
}

func billingInvoicesCmd() *cobra.Command {
	var o output
	var limit int
	cmd := &cobra.Command{
		Use:   "invoices NAMESPACE [--limit=12]",
		Short: "List a namespace's invoices from Stripe",
		Args:  exactArgs(1, "NAMESPACE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := namespace.ValidateName(args[0]); err != nil {
				return err
			}
			if limit < 1 || limit > 100 {
				return fmt.Errorf("invalid --limit %d: use 1 to 100", limit)
			}
			path := "/api/v1/billing/invoices/" + url.PathEscape(args[0]) + "?limit=" + strconv.Itoa(limit)
			return show(cmd, &o, path, func(w *tabwriter.Writer, list []billing.Invoice) {
				fmt.Fprintln(w, "NUMBER\tPERIOD\tAMOUNT\tSTATUS\tURL")
				for _, inv := range list {
					fmt.Fprintf(w, "%s\t%s..%s\t%s\t%s\t%s\n", dash(inv.Number), inv.PeriodStart.Format("2006-01-02"), inv.PeriodEnd.Format("2006-01-02"),
						inv.Amount, inv.Status, dash(inv.HostedURL))
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 12, "how many invoices, newest first (1-100)")
	o.register(cmd)
	return cmd
}
