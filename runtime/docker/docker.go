// Package docker implements runtime.Runtime on a Docker Engine (API 1.41,
// Docker 20.10, and newer). Each namespace gets its own bridge network, a data
// and a skills volume and one gateway container, all named deterministically
// from the cluster id and the namespace and labelled with both, so every
// operation is idempotent and ownership is provable. One operation per file.
package docker

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

var (
	_ runtime.Runtime     = (*Runtime)(nil)
	_ runtime.Objects     = (*Runtime)(nil)
	_ runtime.Pool        = (*Runtime)(nil)
	_ runtime.StateWriter = (*Runtime)(nil)
	_ runtime.LogTailer   = (*Runtime)(nil)
)

// DefaultCallTimeout bounds each Docker API call when Config.CallTimeout is 0.
const DefaultCallTimeout = 30 * time.Second

// Config configures a Runtime.
type Config struct {
	// Host is the Docker host (unix:///var/run/docker.sock, tcp://…); empty
	// takes DOCKER_HOST and the TLS settings from the environment, else the
	// default socket.
	Host string `description:"Docker host; empty = DOCKER_HOST or the default socket"`
	// ClusterID owns every object this runtime creates; its first 8
	// characters go into the object names.
	ClusterID string `description:"Cluster id stamped on every Docker object"`
	// Logger receives the runtime's logs; nil discards them.
	Logger hclog.Logger `json:"-"`
	// CallTimeout is the deadline of each Docker API call; a stop gets it on
	// top of its grace period. 0 means DefaultCallTimeout.
	CallTimeout time.Duration `description:"Deadline of each Docker API call"`
	// SubnetPool is an IPv4 CIDR (e.g. 10.213.0.0/16) the per-namespace
	// networks are carved from. Empty lets Docker choose from its default
	// address pools, which a stock engine runs out of after about 30
	// networks. Pick a range the host does not route elsewhere.
	SubnetPool string `description:"IPv4 CIDR the per-namespace networks are carved from; empty = Docker's default pools (about 30 networks)"`
	// SubnetPrefixLen is the size of each namespace network taken from
	// SubnetPool; 0 means DefaultSubnetPrefixLen (/28).
	SubnetPrefixLen int `description:"Prefix length of each namespace network taken from the subnet pool"`
	// SharedVolumes, when set, is a directory every node of the cluster
	// mounts (NFS, say): each volume is then a bind of SharedVolumes/NAME,
	// so a namespace moved to another node finds its data there.
	SharedVolumes string `description:"Directory on storage every node shares; volumes are binds of DIR/NAME"`
	// Node is this node's name, stamped on every object it creates; the
	// objects another node of the cluster made on the same engine are
	// then not this runtime's to list, watch or remove. Empty: every
	// object of the cluster is.
	Node string `description:"This node's name, stamped on the objects it creates"`
}

// Runtime runs gateway containers on one Docker Engine. It is safe for
// concurrent use and keeps no state besides the client, the spares being
// claimed right now and the networks' gateway addresses.
type Runtime struct {
	api         client.APIClient
	log         hclog.Logger
	cluster     string
	short       string
	callTimeout time.Duration
	subnets     subnetPool
	claims      sync.Map // spare id → namespace, while a rename claims it
	// held are subnets kept for an adoption between the removal of the
	// spare's network and the create of the namespace's (netip.Prefix →
	// struct{}): no other create of this process picks them.
	held     sync.Map
	iptables iptablesFunc
	hostCPUs atomic.Int64 // the engine's CPUs, once read (HostCPUs)
	shared   string       // Config.SharedVolumes
	node     string       // Config.Node
}

// clusterIDRE keeps the cluster id usable inside Docker object names.
var clusterIDRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// New makes a Runtime. It does not contact the engine: the API version is
// negotiated on the first call, so an engine that starts later still works.
func New(cfg Config) (*Runtime, error) {
	if !clusterIDRE.MatchString(cfg.ClusterID) {
		return nil, fmt.Errorf("docker runtime: cluster id %q is empty or not usable in Docker names", cfg.ClusterID)
	}
	subnets, err := parseSubnetPool(cfg.SubnetPool, cfg.SubnetPrefixLen)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: %w", err)
	}
	// FromEnv honours DOCKER_API_VERSION (which pins the version); without it
	// the client negotiates down to the daemon's version, e.g. 1.41 on
	// Debian's Docker 20.10.
	opts := []client.Opt{client.FromEnv}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	api, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: making client: %w", err)
	}
	r := newRuntime(api, cfg)
	r.subnets = subnets
	return r, nil
}

// newRuntime wires a Runtime around any API client (tests pass fakes).
func newRuntime(api client.APIClient, cfg Config) *Runtime {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	short := cfg.ClusterID
	if len(short) > 8 {
		short = short[:8]
	}
	return &Runtime{api: api, log: log, cluster: cfg.ClusterID, short: short, callTimeout: timeout, iptables: runIptables, shared: cfg.SharedVolumes, node: cfg.Node}
}

// ClusterID returns the cluster id the runtime stamps on its objects.
func (r *Runtime) ClusterID() string { return r.cluster }

// Ping checks that the engine answers and settles the API version.
func (r *Runtime) Ping(ctx context.Context) error {
	return r.do(ctx, func(ctx context.Context) error {
		_, err := r.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		return err
	})
}

// APIVersion returns the Docker API version in use (after the first call, the
// negotiated one).
func (r *Runtime) APIVersion() string { return r.api.ClientVersion() }

// Close releases the client's idle connections.
func (r *Runtime) Close() error {
	if err := r.api.Close(); err != nil {
		return fmt.Errorf("closing docker client: %w", err)
	}
	return nil
}
