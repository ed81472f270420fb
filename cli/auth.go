package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/auth"
	"github.com/clawd-dev/clawd/namespace"
)

func authCmd() *cobra.Command {
	return group("auth", "A namespace's sign-in with its own identity provider (OAuth2/OIDC at the router)",
		authConfigureCmd(), authShowCmd(), authRemoveCmd())
}

// nsArgOrFlag is the namespace given as the one argument or --namespace.
func nsArgOrFlag(args []string, flag string) (string, error) {
	ns := flag
	if len(args) == 1 {
		if flag != "" && flag != args[0] {
			return "", fmt.Errorf("two namespaces given: %s and --namespace=%s", args[0], flag)
		}
		ns = args[0]
	}
	if ns == "" {
		return "", errors.New("name the namespace: NS or --namespace=NS")
	}
	return ns, namespace.ValidateName(ns)
}

func authConfigureCmd() *cobra.Command {
	var ns, scopes, domains, emails string
	var req api.ConfigureLoginRequest
	var o output
	cmd := &cobra.Command{
		Use:   "configure --namespace=NS --provider=oidc|oauth2 --client-id=ID --client-secret=SECRET --callback-url=URL [--issuer=URL | --auth-url=URL --token-url=URL --userinfo-url=URL]",
		Short: "Make a namespace's people sign in with its identity provider; the client secret is stored encrypted and never shown again",
		Long: `Configure the sign-in of a namespace: browsers on its hostnames without a
session are sent to the provider (authorization code with PKCE), and come
back signed in; the gateway is told "oidc:<email>". API clients keep using
API keys. With a sign-in configured nothing of the namespace is served
without a session or a key.

The callback URL's host becomes one of the namespace's hostnames. Register
the callback URL at the provider as the client's redirect URI. With --issuer
the endpoints come from OpenID Connect discovery; a plain OAuth2 provider
takes --auth-url, --token-url and --userinfo-url instead. A login without
either is stored, and 'clawd auth show' says what it still needs.`,
		Example: `  clawd auth configure --namespace=tenant-a --provider=oauth2 --client-id=… --client-secret=… --callback-url=https://tenant-a.app.com/callback
  clawd auth configure --namespace=tenant-a --provider=oidc --issuer=https://accounts.google.com --client-id=… --client-secret=- \
      --callback-url=https://tenant-a.app.com/callback --allowed-domains=tenant-a.com < secret.txt`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := nsArgOrFlag(args, ns)
			if err != nil {
				return err
			}
			if err := o.check(); err != nil {
				return err
			}
			if req.ClientSecret == "-" {
				if req.ClientSecret, err = readSecret(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			req.Scopes, req.AllowedDomains, req.AllowedEmails = splitList(scopes), splitList(domains), splitList(emails)
			// Check locally first so a typo fails before the round trip.
			l := auth.Login{Namespace: name, Provider: req.Provider, ClientID: req.ClientID, CallbackURL: req.CallbackURL,
				Issuer: req.Issuer, AuthURL: req.AuthURL, TokenURL: req.TokenURL, UserinfoURL: req.UserinfoURL,
				AllowedDomains: append([]string(nil), req.AllowedDomains...), AllowedEmails: append([]string(nil), req.AllowedEmails...)}
			l.Normalize()
			if err := l.Validate(); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var got api.Login
			if err := c.do(cmd.Context(), "PUT", "/api/v1/namespaces/"+url.PathEscape(name)+"/auth", req, &got); err != nil {
				return err
			}
			if o.format != "table" {
				return o.print(cmd.OutOrStdout(), got, nil)
			}
			w := cmd.ErrOrStderr()
			fmt.Fprintf(w, "sign-in of namespace %s configured (%s, client %s, callback %s)\n", got.Namespace, got.Provider, got.ClientID, got.CallbackURL)
			if got.HostnameAdded != "" {
				fmt.Fprintf(w, "hostname %s added to namespace %s (the callback's host)\n", got.HostnameAdded, got.Namespace)
			}
			if len(got.Missing) > 0 {
				fmt.Fprintf(w, "not in effect yet: set %s (clawd auth configure again); until then browsers use API keys\n", strings.Join(got.Missing, " "))
			} else {
				fmt.Fprintf(w, "in effect: browsers on the namespace's hostnames sign in at the provider; register %s there as the redirect URI\n", got.CallbackURL)
			}
			return nil
		},
	}
	namespaceFlag(cmd, &ns)
	f := cmd.Flags()
	f.StringVar(&req.Provider, "provider", "", "oidc (ID token, endpoints by discovery from --issuer) or oauth2 (discovery with --issuer, else --auth-url, --token-url, --userinfo-url)")
	f.StringVar(&req.ClientID, "client-id", "", "the client id registered at the provider")
	f.StringVar(&req.ClientSecret, "client-secret", "", "the client secret; - reads it from standard input; left out, the stored one is kept")
	f.StringVar(&req.CallbackURL, "callback-url", "", "the redirect URI registered at the provider, e.g. https://tenant-a.app.com/callback; its host becomes a hostname of the namespace")
	f.StringVar(&req.Issuer, "issuer", "", "the OpenID provider's issuer URL (discovery at /.well-known/openid-configuration)")
	f.StringVar(&req.AuthURL, "auth-url", "", "the authorization endpoint (OAuth2 without discovery)")
	f.StringVar(&req.TokenURL, "token-url", "", "the token endpoint (OAuth2 without discovery)")
	f.StringVar(&req.UserinfoURL, "userinfo-url", "", "the userinfo endpoint (OAuth2 without discovery)")
	f.StringVar(&scopes, "scopes", "", "comma-separated scopes (default openid,email,profile with an issuer)")
	f.StringVar(&domains, "allowed-domains", "", "comma-separated email domains let in (default: anyone the provider signs in)")
	f.StringVar(&emails, "allowed-emails", "", "comma-separated email addresses let in")
	o.register(cmd)
	return cmd
}

func readSecret(r io.Reader) (string, error) {
	s, err := readKey(r)
	if err != nil {
		return "", errors.New(strings.Replace(err.Error(), "API key", "client secret", 1))
	}
	return s, nil
}

func authShowCmd() *cobra.Command {
	var ns string
	var o output
	cmd := &cobra.Command{
		Use:     "show NS",
		Aliases: []string{"get"},
		Short:   "Show a namespace's sign-in and what it still needs (never the client secret)",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := nsArgOrFlag(args, ns)
			if err != nil {
				return err
			}
			return show(cmd, &o, "/api/v1/namespaces/"+url.PathEscape(name)+"/auth", func(w *tabwriter.Writer, l api.Login) {
				row := func(k, v string) {
					if v != "" {
						fmt.Fprintf(w, "%s\t%s\n", k, v)
					}
				}
				row("NAMESPACE", l.Namespace)
				row("PROVIDER", l.Provider)
				row("CLIENT ID", l.ClientID)
				row("CLIENT SECRET", "(stored encrypted)")
				row("CALLBACK URL", l.CallbackURL)
				row("ISSUER", l.Issuer)
				row("AUTH URL", l.AuthURL)
				row("TOKEN URL", l.TokenURL)
				row("USERINFO URL", l.UserinfoURL)
				row("SCOPES", strings.Join(l.Scopes, ","))
				row("ALLOWED DOMAINS", strings.Join(l.AllowedDomains, ","))
				row("ALLOWED EMAILS", strings.Join(l.AllowedEmails, ","))
				if l.Active {
					row("STATUS", "active")
				} else {
					row("STATUS", "not in effect: needs "+strings.Join(l.Missing, " "))
				}
				row("UPDATED", when(l.UpdatedAt, "-"))
			})
		},
	}
	namespaceFlag(cmd, &ns)
	o.register(cmd)
	return cmd
}

func authRemoveCmd() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:     "remove NS",
		Aliases: []string{"rm", "delete"},
		Short:   "Remove a namespace's sign-in; its sessions end at once (its hostnames stay)",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := nsArgOrFlag(args, ns)
			if err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "DELETE", "/api/v1/namespaces/"+url.PathEscape(name)+"/auth", nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "sign-in of namespace %s removed; its sessions are no longer accepted\n", name)
			return nil
		},
	}
	namespaceFlag(cmd, &ns)
	return cmd
}
