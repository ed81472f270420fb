package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/modelgw"
	"github.com/clawd-dev/clawd/provider/registry"
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/usage"
)

// models is the model gateway's part of `clawd up`: the secrets key, the
// providers and namespace tokens, today's usage counts, and the listener
// gateways call.
type models struct {
	box     *secrets.Box
	reg     *registry.Registry
	counter *usage.Counter
	quotas  *quota.Enforcer
	// requests counts tenant requests at the router (api.requestsPerHour).
	requests *quota.Requests
	gw       *modelgw.Gateway
	ln       net.Listener
	srv      *http.Server
	log      hclog.Logger
}

// hostAddresser finds the host's address on Docker's default bridge.
type hostAddresser interface {
	HostAddress(ctx context.Context) (netip.Addr, error)
}

// newModels loads the secrets key and binds the model gateway's listener,
// so a bad key or a busy port fails `clawd up` at once.
func newModels(ctx context.Context, cfg *config.Static, rt hostAddresser, st *store.Store, reg prometheus.Registerer, meter modelgw.Sink, log hclog.Logger) (*models, error) {
	keyFile := cfg.Secrets.KeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.DataDir, "secrets.key")
	}
	box, err := secrets.Open(ctx, secrets.Options{Source: cfg.Secrets.KeySource, Key: cfg.Secrets.Key, KeyFile: keyFile,
		Vault: secrets.VaultConfig{Address: cfg.Vault.Address, TokenFile: cfg.Vault.TokenFile, Mount: cfg.Vault.Mount, Key: cfg.Vault.Key}})
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	if v, err := box.Source().Current(ctx); err == nil {
		log.Info("secrets key source", "source", box.Source().Name(), "version", v)
	}
	host, port, _ := net.SplitHostPort(cfg.ModelGW.Address)
	advertise := host
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		addr, err := rt.HostAddress(hctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("model gateway: %w (set --modelgw.address to an address of this host that gateway containers reach)", err)
		}
		advertise = addr.String()
		if host == "" {
			host = advertise
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("model gateway listener on %s: %w (set --modelgw.address)", net.JoinHostPort(host, port), err)
	}
	if port == "0" {
		port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	baseURL := "http://" + net.JoinHostPort(advertise, port)
	m := &models{box: box, ln: ln, log: log}
	m.reg = registry.NewRegistry(box, baseURL, log.Named("providers"))
	m.counter = usage.NewCounter(cfg.Node.Name, st, log.Named("usage"))
	m.quotas = quota.NewEnforcer(m.reg, m.counter, reg, log.Named("quota"))
	m.requests = quota.NewRequests(cfg.Node.Name, st, m.quotas.Rejections(), log.Named("quota"))
	m.gw = modelgw.New(modelgw.Config{
		Providers:  m.reg,
		Auth:       m.reg,
		Admit:      m.quotas,
		Sinks:      []modelgw.Sink{usageSink{m.counter}, meter},
		Registerer: reg,
		Linger:     time.Duration(cfg.ModelGW.Linger),
		Logger:     log.Named("modelgw"),
	})
	// No write timeout: a model's answer streams for minutes.
	m.srv = &http.Server{Handler: m.gw, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Info("model gateway listening", "address", ln.Addr().String(), "gateways_call", baseURL)
	return m, nil
}

// run follows providers and namespaces and counts usage until ctx ends.
func (m *models) run(ctx context.Context, st *store.Store) {
	go m.reg.Run(ctx, st)
	go m.counter.Run(ctx, 2*time.Second)
	// This node's counts of the hour come back before the router serves:
	// a restart does not refill anyone's quota.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	m.requests.Sync(sctx, time.Now())
	cancel()
	go m.requests.Run(ctx, 2*time.Second)
}

// synced waits, at most d, for the first provider list, so the first
// gateways started get their providers in their first config.
func (m *models) synced(ctx context.Context, d time.Duration) {
	select {
	case <-m.reg.Synced():
	case <-time.After(d):
		m.log.Warn("no provider list from the store yet; gateways get theirs when it comes")
	case <-ctx.Done():
	}
}

// usageSink counts every model call for quota-status.
type usageSink struct{ c *usage.Counter }

func (s usageSink) Record(u modelgw.Usage) {
	s.c.Add(usage.Call{
		Time: u.Time, Namespace: u.Namespace, Provider: u.Provider, Model: u.Model,
		Status: u.Status, InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, Estimated: u.Estimated,
	})
}
