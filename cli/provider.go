package cli

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/provider"
)

func providerCmd() *cobra.Command {
	cmd := group("provider", "Model providers clawd holds for every namespace (their keys never reach a gateway)",
		providerAddCmd(), providerListCmd(), providerRemoveCmd())
	return alias(cmd, "providers")
}

func providerAddCmd() *cobra.Command {
	var req api.AddProviderRequest
	var models string
	cmd := &cobra.Command{
		Use:   "add NAME --api=openai-completions|openai-responses|anthropic-messages --base-url=URL --api-key=KEY --models=m1,m2",
		Short: "Add a model provider; its key is stored encrypted and never shown again",
		Example: `  clawd provider add openai --api=openai-completions --base-url=https://api.openai.com/v1 --api-key=sk-… --models=gpt-4o,gpt-4o-mini
  clawd provider add anthropic --api=anthropic-messages --base-url=https://api.anthropic.com --api-key=- --models=claude-sonnet-4-5 < key.txt`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			req.Models = splitList(models)
			if req.APIKey == "-" {
				key, err := readKey(cmd.InOrStdin())
				if err != nil {
					return err
				}
				req.APIKey = key
			}
			req.BaseURL = strings.TrimRight(req.BaseURL, "/")
			// Check locally first so a typo fails before the round trip.
			if err := provider.Validate(req.Name, req.API, req.BaseURL, req.APIKey, req.Models); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var p api.Provider
			if err := c.do(cmd.Context(), "POST", "/api/v1/providers", req, &p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "provider %s added (%s at %s; models %s); gateways reach it through clawd from now on\n",
				p.Name, p.API, p.BaseURL, strings.Join(p.Models, ", "))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.API, "api", "", "the provider's API: "+strings.Join(provider.APIs, ", "))
	f.StringVar(&req.BaseURL, "base-url", "", "the provider's base URL, e.g. https://api.openai.com/v1 or https://api.anthropic.com")
	f.StringVar(&req.APIKey, "api-key", "", "the provider's API key; - reads it from standard input (keeps it out of shell history)")
	f.StringVar(&models, "models", "", "comma-separated models it offers, e.g. gpt-4o,gpt-4o-mini")
	return cmd
}

func readKey(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the API key from standard input: %w", err)
	}
	return strings.TrimSpace(line), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func providerListCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List model providers (never their keys)",
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, &o, "/api/v1/providers", func(w *tabwriter.Writer, list []api.Provider) {
				fmt.Fprintln(w, "NAME\tAPI\tBASE URL\tMODELS\tAGE")
				for _, p := range list {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.API, p.BaseURL, strings.Join(p.Models, ","), age(p.CreatedAt))
				}
			})
		},
	}
	o.register(cmd)
	return cmd
}

func providerRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm", "delete"},
		Short:   "Remove a model provider (refused while a namespace's model uses it)",
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "DELETE", "/api/v1/providers/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "provider %s removed; gateways no longer list it\n", args[0])
			return nil
		},
	}
}
