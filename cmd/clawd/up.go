package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/traefik/paerser/flag"
	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/billing"
	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/console"
	"github.com/clawd-dev/clawd/failover"
	"github.com/clawd-dev/clawd/metering"
	"github.com/clawd-dev/clawd/metrics"
	"github.com/clawd-dev/clawd/openclawcfg"
	"github.com/clawd-dev/clawd/placement"
	"github.com/clawd-dev/clawd/reaper"
	"github.com/clawd-dev/clawd/resources"
	"github.com/clawd-dev/clawd/router"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/runtime/docker"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/supervisor"
	"github.com/clawd-dev/clawd/units"
	"github.com/clawd-dev/clawd/warmpool"
	"github.com/clawd-dev/clawd/zram"
)

func upCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "up [--configfile=clawd.yaml] [flags]",
		Short:              "Run the clawd daemon in the foreground",
		DisableFlagParsing: true, // paerser owns these flags: file < CLAWD_* env < flags
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "-h" || a == "--help" || a == "help" {
					return printUpHelp(cmd)
				}
			}
			cfg, err := config.LoadStatic(args, os.Environ())
			if err != nil {
				return err
			}
			return up(cfg)
		},
	}
}

func printUpHelp(cmd *cobra.Command) error {
	s := &config.Static{}
	s.SetDefaults()
	flats, err := flag.Encode(s)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Usage: clawd up [--configfile=clawd.yaml] [flags]\n\nEvery flag can also be set in the YAML file or as CLAWD_<NAME> (dots become _).\n\nFlags:\n")
	fmt.Fprintf(w, "  --configfile\n      YAML file with static options.\n")
	for _, f := range flats {
		name := strings.TrimPrefix(f.Name, "clawd.")
		fmt.Fprintf(w, "  --%s  (default %q)\n      %s\n", strings.ToLower(name), f.Default, f.Description)
	}
	return nil
}

func newLogger(cfg *config.Static) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "clawd",
		Level:      hclog.LevelFromString(cfg.Log.Level),
		JSONFormat: cfg.Log.Format == "json",
		Output:     os.Stderr,
		Color:      hclog.AutoColor,
	})
}

// up runs the daemon until SIGINT or SIGTERM. Tenants' containers keep
// running after it returns; the next `clawd up` adopts them.
func up(cfg *config.Static) error {
	log := newLogger(cfg)
	smallHostProcs(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	token, err := adminToken(filepath.Join(cfg.DataDir, "admin.token"))
	if err != nil {
		return err
	}

	labels, err := placement.ParseLabels(cfg.Node.Labels)
	if err != nil {
		return fmt.Errorf("--node.labels: %w", err)
	}
	// Bind both listeners before anything slow, so a busy port fails fast.
	apiLn, err := net.Listen("tcp", cfg.API.Address)
	if err != nil {
		return fmt.Errorf("admin API listener on %s: %w (set --api.address)", cfg.API.Address, err)
	}
	routerLn, err := net.Listen("tcp", cfg.Router.Address)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("router listener on %s: %w (set --router.address)", cfg.Router.Address, err)
	}
	edge, err := newEdge(cfg, log) // TLS listener and certificates, access log, metrics
	if err != nil {
		apiLn.Close()
		routerLn.Close()
		return err
	}

	openCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	st, err := store.Open(openCtx, store.Config{
		Endpoints: cfg.Etcd.Endpoints,
		DataDir:   cfg.DataDir,
		ClientURL: cfg.Etcd.ClientURL,
		PeerURL:   cfg.Etcd.PeerURL,
		Name:      cfg.Node.Name,
		Logger:    log.Named("store"),
	})
	cancel()
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer st.Close()
	log.Info("store ready", "cluster", st.ClusterID(), "embedded", len(cfg.Etcd.Endpoints) == 0)
	if err := keepPublicNamespaces(ctx, st, log); err != nil {
		return err
	}
	warnRefusedSkillsPaths(ctx, st, cfg.SkillsPolicy(), log)

	// A runtime without them leaves gateways trusting the whole pool.
	var _ supervisor.RouterAddresser = (*docker.Runtime)(nil)
	var _ supervisor.Metrics = (*metrics.Supervisor)(nil)
	var _ runtime.SpareAddresser = (*docker.Runtime)(nil)
	rt, err := docker.New(docker.Config{Host: cfg.Docker.Host, SubnetPool: cfg.Docker.SubnetPool, ClusterID: st.ClusterID(), SharedVolumes: cfg.Volumes.Shared, Node: cfg.Node.Name, Logger: log.Named("runtime")})
	if err != nil {
		return fmt.Errorf("connecting to Docker: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = rt.List(pingCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("the Docker engine does not answer: %w (start it, or set --docker.host)", err)
	}
	// Before any gateway runs: no gateway may reach the host's cloud
	// metadata service, whatever a tool inside it tries.
	fwCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = rt.BlockMetadata(fwCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("%w (clawd needs root, or CAP_NET_ADMIN, and iptables on the host)", err)
	}

	mtr, err := newMeters(ctx, cfg, edge.reg, log)
	if err != nil {
		return err
	}
	// After every other deferred step that may still record usage: the
	// writer's last flush, then the ledger closes.
	defer mtr.wait()
	mtr.run(ctx, st)
	aud := newAuditing(mtr.ledger, st, log)
	// Runs before mtr.wait: the audit writer's last flush, then the ledger closes.
	defer aud.wait()
	aud.run(ctx, st)
	mdl, err := newModels(ctx, cfg, rt, st, edge.reg, toolAudit{modelSink{mtr.meter}, aud.writer}, log)
	if err != nil {
		return err
	}
	mdl.quotas.ObserveRefusals(quotaAudit{aud.writer})
	mdl.run(ctx, st)

	gw := runtime.GatewaySpec{
		Image: cfg.Gateway.Image, Port: cfg.Gateway.Port, PidsLimit: cfg.Gateway.PidsLimit,
		StateDir: cfg.Gateway.StateDir, SkillsDir: cfg.Gateway.SkillsDir,
		Env: map[string]string{"OPENCLAW_DISABLE_BONJOUR": "1"},
	}
	subnets, err := netip.ParsePrefix(cfg.Docker.SubnetPool)
	if err != nil {
		return fmt.Errorf("--docker.subnetpool %q: %w", cfg.Docker.SubnetPool, err)
	}
	activity := reaper.NewActivity()
	budget, err := cfg.MemoryBudget()
	if err != nil {
		return err
	}
	estimate, _ := units.ParseBytes(cfg.Runtime.MemoryEstimate)
	log.Info("memory budget", "budget", units.FormatBytes(budget), "uncapped_gateway_counts_as", cfg.Runtime.MemoryEstimate)
	squeezeKeep, _ := units.ParseBytes(cfg.Memory.SqueezeKeep)
	swap := zram.Setup(zram.Options{Size: cfg.Memory.Zram, Algorithm: cfg.Memory.ZramAlgorithm, StateFile: filepath.Join(cfg.DataDir, "zram.json"), Logger: log.Named("zram")})
	if err := st.RegisterNode(ctx, store.Node{Name: cfg.Node.Name, Address: routerLn.Addr().String(), StartedAt: time.Now().UTC(),
		Labels: labels, MemoryBudget: budget, MemoryEstimate: estimate, PeerAddress: cfg.Node.PeerAddress}, nodeLease); err != nil {
		return fmt.Errorf("registering node: %w", err)
	}
	httpPort, httpsPort := listenerPort(routerLn), listenerPort(edge.tlsLn)
	var pool *warmpool.Pool
	if pr, ok := runtime.Runtime(rt).(runtime.Pool); ok && cfg.Warmpool.Size > 0 {
		spare := gw
		cpu, _ := units.ParseCPU(cfg.Warmpool.CPU)
		spare.NanoCPUs = cpu * 1_000_000
		spare.MemoryBytes, _ = units.ParseBytes(cfg.Warmpool.Memory)
		// A spare boots with a config of its own; the namespace that
		// adopts it gets its own written (supervisor).
		spareFiles := func(router netip.Addr) (map[string][]byte, error) {
			c, err := openclawcfg.Spare(openclawcfg.Options{Port: cfg.Gateway.Port, SkillsDir: cfg.Gateway.SkillsDir, Proxy: router, SubnetPool: subnets})
			return map[string][]byte{openclawcfg.FileName: c}, err
		}
		if spare.StateFiles, err = spareFiles(netip.Addr{}); err != nil {
			return err
		}
		pool = warmpool.New(warmpool.Config{Size: cfg.Warmpool.Size, Spec: spare, SpareFiles: spareFiles,
			ReadyPath: cfg.Gateway.ReadyPath, Logger: log.Named("warmpool")}, pr)
	}
	supMetrics := metrics.NewSupervisor(edge.reg)
	vols := newVolumes(cfg.DataDir, st, mdl.box, log)
	fo := failover.New(failover.Config{Node: cfg.Node.Name, Grace: time.Duration(cfg.Node.Grace), Shared: cfg.Volumes.Shared != "",
		FenceAfter: nodeLease, Logger: log.Named("failover")}, st, rt)
	sup := supervisor.New(supervisor.Config{
		Node: cfg.Node.Name,
		Gateway: supervisor.Gateway{
			Spec: gw, ReadyPath: cfg.Gateway.ReadyPath, SubnetPool: subnets,
			RouterHTTPPort: httpPort, RouterHTTPSPort: httpsPort,
		},
		ResyncInterval:   time.Duration(cfg.Supervisor.ResyncInterval),
		StartTimeout:     time.Duration(cfg.Supervisor.StartTimeout),
		BackoffMax:       time.Duration(cfg.Supervisor.BackoffMax),
		MaxRestarts:      cfg.Supervisor.MaxRestarts,
		FailedBackoffMax: time.Duration(cfg.Supervisor.FailedBackoffMax),
		StablePeriod:     time.Duration(cfg.Supervisor.StablePeriod),
		Metrics:          supMetrics,
		StopTimeout:      time.Duration(cfg.Supervisor.StopTimeout),
		Pool:             poolOrNil(pool),
		Models:           mdl.reg,
		MemoryBudget:     budget,
		MemoryEstimate:   estimate,
		Skills:           cfg.SkillsPolicy(),
		Activity:         activity,
		Gate:             activity,
		Phases:           phaseAudit{aud.writer},
		Volumes:          vols,
		Swap:             swap,
		SqueezeKeep:      squeezeKeep,
		Fence:            fo,
		Logger:           log.Named("supervisor"),
	}, rt, st)
	if pool != nil {
		pool.SetFits(sup.Fits)
	}
	rtr := router.New(log.Named("router"))
	if err := setupPeers(ctx, cfg, st, mdl.box, rtr, log); err != nil {
		return err
	}
	rtr.LimitUpstream(router.UpstreamLimits{
		ResponseHeaderTimeout: time.Duration(cfg.Router.ResponseHeaderTimeout),
		WSHandshakeTimeout:    time.Duration(cfg.Router.WSHandshakeTimeout),
	})
	edge.signIn(ctx, rtr, st, mdl.box)
	rtr.Lifecycle(sup, edge.observe(ctx, rtr, activity), time.Duration(cfg.Router.WakeTimeout))
	rtr.SetGate(activity)
	rtr.AuditAuth(authAudit{aud.writer})
	rtr.Observe(apiCallAudit{aud.writer})
	rtr.AuditCalls(apiCallAudit{aud.writer})
	aud.register(edge.reg)
	rtr.CountRequests(mdl.requests, mtr.meter) // the quota, then the ledger's api_requests
	tiers := reaper.NewTiers(sup, sup, activity, time.Duration(cfg.Reaper.Interval), log.Named("reaper"))
	leaks := reaper.NewLeaks(rt, st, ownersOrNil(pool), time.Duration(cfg.Reaper.Grace), cfg.Reaper.DryRun, log.Named("reaper"))
	bill := billing.New(billing.Config{Store: st, Secrets: mdl.box, Quotas: api.QuotaApplier{Store: st, Storage: vols},
		APIBase: cfg.Billing.Stripe.APIBase, Node: cfg.Node.Name, Logger: log.Named("billing"), Audit: aud.writer})
	cleaner := newCleaner(cfg.Node.Name, dataDirs{rt, vols}, mtr.ledger, st, aud.writer, edge.reg, log.Named("retention"))
	hist := resources.New(resources.DefaultWindow) // the console's CPU and memory charts
	apiSrv := api.New(api.Config{Node: cfg.Node.Name, Token: token, RouterAddress: routerLn.Addr().String(), Logger: log.Named("api"), Metrics: edge.metrics(), MetricsPublic: cfg.API.MetricsPublic, Pool: poolStatusOrNil(pool),
		Secrets: mdl.box, Usage: mdl.counter, Requests: mdl.requests, Ledger: mtr.ledger, Metering: mtr, Skills: cfg.SkillsPolicy(), Billing: bill, Console: console.Handler(),
		Audit: aud.writer, AuditLog: aud.checked(), Storage: vols, Cleanup: cleaner, Resources: hist, Memory: sup, Zram: swap,
		Placer: placement.New(st), SharedVolumes: cfg.Volumes.Shared != "",
		SecretKeys: secretKeeper(mdl.box, st)}, st, rt)
	metrics.NewCompressed(edge.reg, sup.Snapshot, func() (uint64, uint64, uint64, bool) {
		p, err := swap.Pool()
		return p.Original, p.Compressed, p.Used, err == nil && swap.Unavailable() == ""
	})

	mdl.synced(ctx, 10*time.Second)
	done := make(chan struct{})
	go func() { sup.Run(ctx); close(done) }()
	go rtr.Run(ctx, st)
	go edge.forget(ctx, st, mdl.gw.Forget, mdl.quotas.Forget, mdl.requests.Forget, mtr.meter.Forget, supMetrics.Forget, hist.Forget)
	go tiers.Run(ctx, st)
	if pool != nil {
		go pool.Run(ctx)
	}
	go leaks.Run(ctx, time.Duration(cfg.Reaper.LeakInterval))
	go fo.Run(ctx)
	go metering.NewSampler(metering.SamplerConfig{
		Node: cfg.Node.Name, Compute: time.Duration(cfg.Metering.ComputeInterval), Storage: time.Duration(cfg.Metering.StorageInterval),
		Logger: log.Named("metering"), Observer: hist,
	}, mtr.meter, sup, rt, volumeDisks{rt, vols}).Run(ctx)
	go bill.Run(ctx, mtr.ledger, time.Minute)
	go cleaner.Run(ctx, time.Duration(cfg.Retention.FirstAfter), time.Duration(cfg.Retention.Interval))

	limits := router.Limits{ReadHeaderTimeout: time.Duration(cfg.Router.ReadHeaderTimeout), MaxHeaderBytes: cfg.Router.MaxHeaderBytes}
	routerSrv := rtr.Server(limits)
	routerSrv.Handler = edge.plain(routerSrv.Handler)
	adminSrv := &http.Server{Handler: apiSrv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 4)
	go func() { errc <- serveRouter(routerSrv, routerLn) }()
	go func() { errc <- serve(adminSrv, apiLn) }()
	go func() { errc <- serve(mdl.srv, mdl.ln) }()
	edge.serve(rtr.Server(limits), errc)

	select {
	case <-rtr.Ready():
	case <-ctx.Done():
	}
	fmt.Fprintf(os.Stdout, "clawd is up: router on %s, admin API on http://%s (node %s, cluster %s)\n",
		routerLn.Addr(), apiLn.Addr(), cfg.Node.Name, st.ClusterID())

	select {
	case <-ctx.Done():
	case err = <-errc:
		log.Error("listener failed", "error", err)
	}
	log.Info("shutting down; gateways keep running")
	stop()
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = routerSrv.ShutdownWithContext(shutCtx)
	_ = adminSrv.Shutdown(shutCtx)
	_ = mdl.srv.Shutdown(shutCtx)
	edge.shutdown(shutCtx)
	rtr.FlushKeyUse(shutCtx, st) // before the store closes
	mdl.requests.Flush(shutCtx)
	<-done
	return err
}

// listenerPort is ln's TCP port, 0 for no listener.
func listenerPort(ln net.Listener) int {
	if ln == nil {
		return 0
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// poolOrNil keeps a nil *Pool from becoming a non-nil interface.
func poolOrNil(p *warmpool.Pool) supervisor.Pool {
	if p == nil {
		return nil
	}
	return p
}

func poolStatusOrNil(p *warmpool.Pool) api.PoolStatus {
	if p == nil {
		return nil
	}
	return p
}

func ownersOrNil(p *warmpool.Pool) reaper.Owners {
	if p == nil {
		return nil
	}
	return p
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveRouter serves the router on ln until its server shuts down.
func serveRouter(srv *fasthttp.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// adminToken reads the admin token, creating it (mode 0600) on first start.
func adminToken(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(raw)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading admin token: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	t := hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("writing admin token: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(t + "\n"); err != nil {
		return "", fmt.Errorf("writing admin token: %w", err)
	}
	return t, nil
}

// keepPublicNamespaces: auth.requireKey defaults to true since this clawd
// (a hostname is not a credential). Namespaces that were reachable without
// a key before the upgrade stay so, and the operator is told which.
func keepPublicNamespaces(ctx context.Context, st *store.Store, log hclog.Logger) error {
	pinned, err := st.KeepBehaviour(ctx, "require-key-default", "auth.requireKey", "false")
	if err != nil {
		return err
	}
	if len(pinned) > 0 {
		log.Warn("upgrade: namespaces now need an API key by default; these existed before and stay public (auth.requireKey=false): "+
			"run clawd config set namespaces.<ns>.auth.requireKey true to close them", "namespaces", strings.Join(pinned, ","))
	}
	return nil
}

// warnRefusedSkillsPaths names, at start, the skills.path values the skills
// policy refuses (an upgrade from before --skills.roots, or a root taken
// away): their gateways keep running, but will not start again.
func warnRefusedSkillsPaths(ctx context.Context, st *store.Store, policy config.SkillsPolicy, log hclog.Logger) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	values, err := st.ListConfig(lctx)
	if err != nil {
		log.Warn("checking skills.path values failed", "error", err)
		return
	}
	for k, v := range values {
		if !strings.HasSuffix(k, ".skills.path") || v == "" {
			continue
		}
		if err := policy.Check(v); err != nil {
			log.Warn("skills.path refused: the gateway keeps what it mounted while it runs, but will not start again until the path or --skills.roots changes",
				"key", k, "error", err)
		}
	}
}
