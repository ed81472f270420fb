// Package store keeps clawd's shared state in etcd: namespace specs and
// statuses, hostname ownership, dynamic config and node liveness. With no
// endpoints configured it runs an embedded single-member etcd server, so a
// single-node install needs nothing else.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// Key layout. Everything clawd writes lives under one prefix so an etcd
// cluster can be shared and a backup can take exactly clawd's keys.
const (
	keyPrefix      = "/clawd/"
	keyClusterID   = keyPrefix + "cluster/id"
	nsPrefix       = keyPrefix + "ns/"
	specPrefix     = nsPrefix + "spec/"
	statusPrefix   = nsPrefix + "status/"
	hostPrefix     = keyPrefix + "hostnames/"
	configPrefix   = keyPrefix + "config/"
	nodePrefix     = keyPrefix + "nodes/"
	providerPrefix = keyPrefix + "providers/"
	usagePrefix    = keyPrefix + "usage/"
	requestsPrefix = keyPrefix + "requests/"
)

// Defaults for Config.
const (
	DefaultClientURL      = "http://127.0.0.1:2379"
	DefaultPeerURL        = "http://127.0.0.1:2380"
	DefaultName           = "clawd"
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	DefaultStartTimeout   = 60 * time.Second
)

// ErrNotFound reports that a namespace, hostname or config key does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists reports that a namespace with the same name already exists.
var ErrExists = errors.New("already exists")

// HostnameTakenError reports that a hostname belongs to another namespace.
type HostnameTakenError struct {
	Hostname string
	Owner    string
}

// Error implements error.
func (e *HostnameTakenError) Error() string {
	return fmt.Sprintf("hostname %q is already used by namespace %q", e.Hostname, e.Owner)
}

// Config says which etcd to use, or how to run the embedded one.
type Config struct {
	// Endpoints of an external etcd cluster; empty starts an embedded server.
	Endpoints []string
	// DataDir holds the embedded server's data in DataDir/etcd.
	DataDir string
	// ClientURL is the embedded server's client listen URL.
	ClientURL string
	// PeerURL is the embedded server's peer URL.
	PeerURL string
	// Name is the embedded member's name.
	Name string
	// DialTimeout bounds connecting the client.
	DialTimeout time.Duration
	// RequestTimeout is the deadline given to an etcd call whose context has none.
	RequestTimeout time.Duration
	// StartTimeout bounds waiting for the embedded server to be ready.
	StartTimeout time.Duration
	// Logger is the root logger; the store logs under Named("store").
	Logger hclog.Logger
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.ClientURL == "" {
		c.ClientURL = DefaultClientURL
	}
	if c.PeerURL == "" {
		c.PeerURL = DefaultPeerURL
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
}

// Store is clawd's view of etcd.
type Store struct {
	cli       *clientv3.Client
	etcd      *embed.Etcd // nil when using external endpoints
	log       hclog.Logger
	timeout   time.Duration
	clusterID string
	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Open connects to etcd, starting the embedded server when cfg has no
// endpoints, and makes sure the cluster has an id.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.SetDefaults()
	s := &Store{log: cfg.Logger.Named("store"), timeout: cfg.RequestTimeout}

	endpoints := cfg.Endpoints
	if len(endpoints) == 0 {
		e, err := startEmbedded(ctx, cfg, s.log, &s.closing)
		if err != nil {
			return nil, err
		}
		s.etcd = e
		endpoints = []string{cfg.ClientURL}
	}

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: cfg.DialTimeout,
		// The client logs every retried call at warn level; only errors
		// are worth a line next to clawd's own logs.
		Logger: newZapLogger(s.log.Named("etcd_client"), &s.closing),
	})
	if err != nil {
		s.closeEmbedded()
		return nil, fmt.Errorf("connecting to etcd %v: %w", endpoints, err)
	}
	s.cli = cli

	if err := s.ensureClusterID(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.log.Debug("store opened", "endpoints", endpoints, "embedded", s.etcd != nil, "cluster_id", s.clusterID)
	return s, nil
}

func startEmbedded(ctx context.Context, cfg Config, log hclog.Logger, quiet *atomic.Bool) (*embed.Etcd, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("starting embedded etcd: no data dir configured")
	}
	curl, err := url.Parse(cfg.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd: parsing client url %q: %w", cfg.ClientURL, err)
	}
	purl, err := url.Parse(cfg.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd: parsing peer url %q: %w", cfg.PeerURL, err)
	}

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = filepath.Join(cfg.DataDir, "etcd")
	ec.ListenClientUrls = []url.URL{*curl}
	ec.AdvertiseClientUrls = []url.URL{*curl}
	ec.ListenPeerUrls = []url.URL{*purl}
	ec.AdvertisePeerUrls = []url.URL{*purl}
	ec.InitialCluster = ec.InitialClusterFromName(cfg.Name)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(log.Named("etcd"), quiet))
	// Without compaction the history grows forever; statuses change often.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "1h"

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", ec.Dir, err)
	}
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		quiet.Store(true)
		e.Close()
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", ec.Dir, err)
	case <-timer.C:
		quiet.Store(true)
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("starting embedded etcd in %s: not ready after %s", ec.Dir, cfg.StartTimeout)
	case <-ctx.Done():
		quiet.Store(true)
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", ec.Dir, ctx.Err())
	}
	// Listener failures after start arrive here; without a reader they would
	// go unnoticed. The channel is closed by e.Close.
	go func() {
		for err := range e.Err() {
			log.Error("embedded etcd failed", "error", err)
		}
	}()
	return e, nil
}

// Close closes the client, then stops the embedded server if any.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		if s.cli != nil {
			if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
				s.closeErr = fmt.Errorf("closing etcd client: %w", err)
			}
		}
		s.closeEmbedded()
	})
	return s.closeErr
}

func (s *Store) closeEmbedded() {
	s.closing.Store(true)
	if s.etcd != nil {
		s.etcd.Close()
	}
}

// Client returns the etcd client, for callers that need etcd primitives
// such as elections.
func (s *Store) Client() *clientv3.Client { return s.cli }

// ClusterID returns the id generated when the store was first opened.
func (s *Store) ClusterID() string { return s.clusterID }

// ensureClusterID creates the cluster id if missing. The create-if-absent
// txn reads the winner's id on failure, so concurrent first starts agree.
func (s *Store) ensureClusterID(ctx context.Context) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("generating cluster id: %w", err)
	}
	id := hex.EncodeToString(b[:])

	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(keyClusterID), "=", 0)).
		Then(clientv3.OpPut(keyClusterID, id)).
		Else(clientv3.OpGet(keyClusterID)).
		Commit()
	if err != nil {
		return fmt.Errorf("ensuring cluster id: %w", err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return errors.New("ensuring cluster id: key vanished during txn")
		}
		id = string(kvs[0].Value)
	}
	s.clusterID = id
	return nil
}

// opCtx gives an etcd call the default deadline unless ctx already has one.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.timeout)
}

// sleepCtx waits d or until ctx ends; false means ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// nextBackoff doubles d up to limit.
func nextBackoff(d, limit time.Duration) time.Duration {
	d *= 2
	if d > limit {
		return limit
	}
	return d
}
