package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/placement"
	"github.com/clawd-dev/clawd/units"
)

func namespaceCmd() *cobra.Command {
	cmd := group("namespace", "Create, inspect and delete namespaces (tenants)",
		nsCreateCmd(), nsListCmd(), nsGetCmd(), nsDeleteCmd(), nsWakeCmd(), nsSleepCmd(),
		nsApplyQuotaCmd(), nsQuotaStatusCmd(), nsCleanupCmd())
	return alias(cmd, "namespaces", "ns", "tenant", "tenants")
}

func nsCreateCmd() *cobra.Command {
	var req api.CreateRequest
	var selector []string
	var minInstances int
	var warmup, wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a namespace and start its gateway",
		Example: `  clawd namespace create tenant-a --display-name="客户A" --quota-cpu=4 --quota-memory=8Gi --quota-skills=50
  clawd namespace create acme --hostname=acme.claw.example.com`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			// Check locally first so a typo fails before the round trip.
			if err := namespace.ValidateName(req.Name); err != nil {
				return err
			}
			if req.CPU != "" {
				if _, err := units.ParseCPU(req.CPU); err != nil {
					return fmt.Errorf("--quota-cpu: %w", err)
				}
			}
			if req.Memory != "" {
				if _, err := units.ParseBytes(req.Memory); err != nil {
					return fmt.Errorf("--quota-memory: %w", err)
				}
			}
			if len(selector) > 0 {
				sel, err := placement.ParseLabels(selector)
				if err != nil {
					return fmt.Errorf("--node-selector: %w", err)
				}
				req.NodeSelector = sel
			}
			if cmd.Flags().Changed("min-instances") {
				req.MinInstances = &minInstances
			}
			if cmd.Flags().Changed("warmup-on-create") {
				req.WarmupOnCreate = &warmup
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var ns namespace.Namespace
			if err := c.do(cmd.Context(), "POST", "/api/v1/namespaces", req, &ns); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "namespace %s created on node %s\n", ns.Spec.Name, dash(ns.Spec.Node))
			if !wait {
				return nil
			}
			return waitRunning(cmd.Context(), c, ns.Spec.Name, timeout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.DisplayName, "display-name", "", "human-readable name")
	f.StringVar(&req.CPU, "quota-cpu", "", "CPU cap of the gateway container, e.g. 4, 0.5, 500m")
	f.StringVar(&req.Memory, "quota-memory", "", "memory cap of the gateway container, e.g. 8Gi, 512Mi")
	f.IntVar(&req.Skills, "quota-skills", 0, "how many skills may be installed")
	f.StringSliceVar(&req.Hostnames, "hostname", nil, "hostname routed to this namespace (repeatable; unique across namespaces)")
	f.StringVar(&req.Node, "node", "", "run it on this node (default: the live node with the most free memory budget)")
	f.StringSliceVar(&selector, "node-selector", nil, "run it on a node with these labels (key=value, repeatable; see --node.labels of clawd up)")
	f.IntVar(&minInstances, "min-instances", 0, "1 keeps the gateway running even when idle")
	f.BoolVar(&warmup, "warmup-on-create", true, "adopt a pre-started gateway from the warm pool when one is free (default: config namespaces.*.warmupOnCreate, true)")
	f.BoolVar(&wait, "wait", true, "wait until the gateway is ready, showing progress")
	f.DurationVar(&timeout, "timeout", 3*time.Minute, "how long --wait waits")
	return cmd
}

// waitRunning polls the namespace and prints each phase change until it is
// Running, Failed or the timeout passes.
func waitRunning(ctx context.Context, c *client, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var last namespace.Phase
	var reason string
	for {
		var d api.NamespaceDetail
		if err := c.do(ctx, "GET", "/api/v1/namespaces/"+name, nil, &d); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		if p := d.Status.Phase; p != last {
			fmt.Fprintf(os.Stderr, "  %5.1fs  %s\n", time.Since(start).Seconds(), p)
			last = p
		}
		reason = d.Status.Reason
		switch d.Status.Phase {
		case namespace.PhaseRunning:
			fmt.Fprintf(os.Stderr, "namespace %s is ready (%.1fs)\n", name, time.Since(start).Seconds())
			return nil
		case namespace.PhaseFailed:
			return fmt.Errorf("namespace %s failed: %s", name, d.Status.Reason)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
			continue
		}
		break
	}
	if reason != "" {
		return fmt.Errorf("namespace %s is still %s after %s (%s); follow it with 'clawd namespace get %s'", name, last, timeout, reason, name)
	}
	return fmt.Errorf("namespace %s is still %s after %s; follow it with 'clawd namespace get %s'", name, last, timeout, name)
}

func nsListCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List namespaces",
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, &o, "/api/v1/namespaces", func(w *tabwriter.Writer, list []namespace.Namespace) {
				fmt.Fprintln(w, "NAME\tDISPLAY NAME\tPHASE\tNODE\tCPU\tMEMORY\tSKILLS\tHOSTNAMES\tAGE")
				for _, ns := range list {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ns.Spec.Name, dash(ns.Spec.DisplayName), phase(ns), dash(ns.Spec.Node),
						cpu(ns.Spec.CPUMillis), mem(ns.Spec.MemoryBytes), skills(ns.Spec.MaxSkills),
						dash(strings.Join(ns.Spec.Hostnames, ",")), age(ns.Spec.CreatedAt))
				}
			})
		},
	}
	o.register(cmd)
	return cmd
}

func nsGetCmd() *cobra.Command {
	var o output
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a namespace: spec, phase, container, address, usage",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			var d api.NamespaceDetail
			if err := c.do(cmd.Context(), "GET", "/api/v1/namespaces/"+url.PathEscape(args[0]), nil, &d); err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), d, func(w *tabwriter.Writer) {
				row := func(k, v string) { fmt.Fprintf(w, "%s:\t%s\n", k, v) }
				row("Name", d.Spec.Name)
				row("Display name", dash(d.Spec.DisplayName))
				row("Phase", phase(d.Namespace))
				if d.Status.Reason != "" {
					row("Reason", d.Status.Reason)
				}
				row("Since", age(d.Status.Since))
				row("Restarts", fmt.Sprint(d.Status.Restarts))
				if !d.Status.NextTry.IsZero() {
					row("Next try", nextTry(d.Status.NextTry)+fmt.Sprintf(" ('clawd namespace wake %s' tries now)", d.Spec.Name))
				}
				for i, l := range d.Status.LogTail {
					k := ""
					if i == 0 {
						k = "Last log lines"
					}
					fmt.Fprintf(w, "%s\t  %s\n", k, l)
				}
				row("Hostnames", dash(strings.Join(d.Spec.Hostnames, ", ")))
				row("CPU", cpuApplied(d.Spec.CPUMillis, d.CPU))
				row("Memory", mem(d.Spec.MemoryBytes))
				row("Skills", skills(d.Spec.MaxSkills))
				row("Node", dash(d.Status.Node))
				row("Container", dash(shortID(d.Status.ContainerID)))
				row("Address", dash(d.Status.Address))
				row("Created", d.Spec.CreatedAt.Format(time.RFC3339))
				if u := d.Usage; u != nil {
					row("CPU time", u.CPUUsage.Round(time.Millisecond).String())
					row("Memory used", fmt.Sprintf("%s of %s", units.FormatBytes(int64(u.MemoryWorkingSet)), mem(int64(u.MemoryLimit))))
					row("OOM kills", fmt.Sprint(u.OOMKills))
					row("Processes", fmt.Sprint(u.Pids))
				}
				if m := d.Memory; m != nil {
					row("Resident", units.FormatBytes(m.ResidentBytes))
					row("In zram", fmt.Sprintf("%s swapped, %s compressed", units.FormatBytes(m.SwappedBytes), units.FormatBytes(m.CompressedBytes)))
				}
			})
		},
	}
	o.register(cmd)
	return cmd
}

func nsDeleteCmd() *cobra.Command {
	var purge, wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a namespace: its container and network (volumes too with --purge)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := namespace.ValidateName(name); err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			q := ""
			if purge {
				q = "?purge=true"
			}
			if err := c.do(cmd.Context(), "DELETE", "/api/v1/namespaces/"+name+q, nil, nil); err != nil {
				return err
			}
			if !wait {
				fmt.Fprintf(os.Stderr, "namespace %s is being deleted\n", name)
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			for {
				err := c.do(ctx, "GET", "/api/v1/namespaces/"+name, nil, nil)
				if isStatus(err, http.StatusNotFound) {
					what := "container and network removed, volumes kept"
					if purge {
						what = "container, network and volumes removed"
					}
					fmt.Fprintf(os.Stderr, "namespace %s deleted (%s)\n", name, what)
					return nil
				}
				if ctx.Err() != nil {
					return fmt.Errorf("namespace %s is still being deleted after %s; check 'clawd namespace get %s'", name, timeout, name)
				}
				if err != nil {
					return err
				}
				time.Sleep(200 * time.Millisecond)
			}
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "also remove the namespace's data and skills volumes")
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until everything is removed")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

func nsWakeCmd() *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wake NAME",
		Short: "Start a namespace's gateway now; also retries a Failed one",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/namespaces/"+url.PathEscape(args[0])+"/wake", nil, nil); err != nil {
				return err
			}
			if !wait {
				return nil
			}
			return waitRunning(cmd.Context(), c, args[0], timeout)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until the gateway is ready")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Minute, "how long --wait waits")
	return cmd
}

func nsSleepCmd() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "sleep NAME",
		Short: "Put a namespace to sleep now: Paused (memory kept), Compressed (memory squeezed into zram), Stopped or Evicted (container removed, volumes kept)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := namespace.Phase(strings.ToUpper(to[:min(1, len(to))]) + strings.ToLower(to[min(1, len(to)):]))
			if !namespace.ValidTarget(target) {
				return fmt.Errorf("invalid --to %q: use paused, compressed, stopped or evicted", to)
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/namespaces/"+url.PathEscape(args[0])+"/sleep", api.SleepRequest{Target: target}, nil); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "namespace %s is going to %s; the next request wakes it\n", args[0], target)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "stopped", "how deep: paused, compressed, stopped or evicted")
	return cmd
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		if n == 0 {
			return fmt.Errorf("%s takes no arguments (got %q)", cmd.CommandPath(), args)
		}
		return fmt.Errorf("%s needs %s (usage: %s)", cmd.CommandPath(), names, cmd.UseLine())
	}
}

func phase(ns namespace.Namespace) string {
	if ns.Status.Phase == "" {
		return string(namespace.PhasePending)
	}
	return string(ns.Status.Phase)
}

func cpu(m int64) string {
	if m == 0 {
		return "-"
	}
	return units.FormatCPU(m)
}

// cpuApplied is a namespace's CPU quota and, when the host has fewer
// CPUs, the cap it got instead.
func cpuApplied(m int64, c *api.CPUCap) string {
	if c == nil || !c.Clamped {
		return cpu(m)
	}
	return fmt.Sprintf("%s (clamped to %s, the host's CPUs)", cpu(m), cpu(c.AppliedMillis))
}

func mem(b int64) string {
	if b == 0 {
		return "-"
	}
	return units.FormatBytes(b)
}

func skills(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// nextTry says when clawd next starts a failing gateway.
func nextTry(at time.Time) string {
	if at.IsZero() {
		return "-"
	}
	if d := time.Until(at); d > 0 {
		return fmt.Sprintf("in %s (%s)", d.Round(time.Second), at.Local().Format(time.TimeOnly))
	}
	return "due now"
}
