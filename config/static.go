package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/traefik/paerser/env"
	"github.com/traefik/paerser/file"
	"github.com/traefik/paerser/flag"
	ptypes "github.com/traefik/paerser/types"

	"github.com/clawd-dev/clawd/units"
	"github.com/clawd-dev/clawd/zram"
	"gopkg.in/yaml.v3"
)

// EnvPrefix is the prefix of environment variables that set static options.
const EnvPrefix = "CLAWD_"

// Static is the configuration `clawd up` reads once at start: a file, then
// CLAWD_* environment variables, then flags, later sources winning.
type Static struct {
	DataDir    string      `description:"Directory for clawd's own state: the embedded etcd, admin.token." json:"dataDir,omitempty" yaml:"dataDir,omitempty"`
	Node       *Node       `description:"This node's identity in the cluster." json:"node,omitempty" yaml:"node,omitempty"`
	Log        *Log        `description:"Logging." json:"log,omitempty" yaml:"log,omitempty"`
	Router     *Router     `description:"The front router tenants' traffic goes through." json:"router,omitempty" yaml:"router,omitempty"`
	API        *API        `description:"The admin API the CLI talks to." json:"api,omitempty" yaml:"api,omitempty"`
	Docker     *Docker     `description:"The Docker engine gateways run on." json:"docker,omitempty" yaml:"docker,omitempty"`
	Gateway    *Gateway    `description:"The per-namespace gateway container." json:"gateway,omitempty" yaml:"gateway,omitempty"`
	Etcd       *Etcd       `description:"The state store." json:"etcd,omitempty" yaml:"etcd,omitempty"`
	Supervisor *Supervisor `description:"The reconcile loop that keeps gateways as specified." json:"supervisor,omitempty" yaml:"supervisor,omitempty"`
	Reaper     *Reaper     `description:"Idle tiers and the removal of leaked Docker objects." json:"reaper,omitempty" yaml:"reaper,omitempty"`
	Runtime    *Runtime    `description:"Host resources gateways share." json:"runtime,omitempty" yaml:"runtime,omitempty"`
	Warmpool   *Warmpool   `description:"Pre-started gateways that new namespaces adopt instead of cold-starting." json:"warmpool,omitempty" yaml:"warmpool,omitempty"`
	ModelGW    *ModelGW    `description:"The model gateway: tenants' gateways reach model providers through it, with clawd's keys, and it counts their tokens." json:"modelgw,omitempty" yaml:"modelgw,omitempty"`
	Secrets    *Secrets    `description:"How the secrets clawd stores (provider keys, sign-in client secrets, Stripe keys) are sealed: AES-256-GCM under a data key of their own, wrapped by a key source." json:"secrets,omitempty" yaml:"secrets,omitempty"`
	Ledger     *Ledger     `description:"The usage ledger: an SQL store of usage events and hourly roll-ups that metering reports and billing read." json:"ledger,omitempty" yaml:"ledger,omitempty"`
	Metering   *Metering   `description:"How often the gateways' cgroups and volumes are sampled for compute and storage usage." json:"metering,omitempty" yaml:"metering,omitempty"`
	Skills     *Skills     `description:"Host directories of skills that namespaces' gateways may mount (namespaces.<ns>.skills.path)." json:"skills,omitempty" yaml:"skills,omitempty"`
	Billing    *Billing    `description:"Billing tenants through a payment provider (clawd billing configure)." json:"billing,omitempty" yaml:"billing,omitempty"`
	Vault      *Vault      `description:"Vault's transit secrets engine, the key source of --secrets.keySource=vault." json:"vault,omitempty" yaml:"vault,omitempty"`
	Retention  *Retention  `description:"The pass that applies namespaces' dataRetention settings." json:"retention,omitempty" yaml:"retention,omitempty"`
	Memory     *Memory     `description:"Host memory for sleeping gateways: the zram swap of the Compressed tier." json:"memory,omitempty" yaml:"memory,omitempty"`
	Volumes    *Volumes    `description:"Where namespaces' volumes live." json:"volumes,omitempty" yaml:"volumes,omitempty"`
}

// Vault says where Vault's transit engine is and which key wraps clawd's
// data keys.
type Vault struct {
	Address   string `description:"Vault's address, e.g. https://vault.internal:8200." json:"address,omitempty" yaml:"address,omitempty"`
	TokenFile string `description:"File holding the Vault token (read on every call, so an agent may renew it); its policy needs update on <mount>/datakey/plaintext/<key>, <mount>/decrypt/<key>, <mount>/rewrap/<key> and read on <mount>/keys/<key>." json:"tokenFile,omitempty" yaml:"tokenFile,omitempty"`
	Mount     string `description:"Path the transit engine is mounted at." json:"mount,omitempty" yaml:"mount,omitempty"`
	Key       string `description:"Name of the transit key that wraps data keys (vault write -f transit/keys/NAME); rotate it in Vault, then run clawd secrets rotate." json:"key,omitempty" yaml:"key,omitempty"`
}

// Retention schedules the retention pass.
type Retention struct {
	Interval   ptypes.Duration `description:"How often every namespace's namespaces.<ns>.dataRetention.* is applied (conversations, logs, usage rows older than set are removed)." json:"interval,omitempty" yaml:"interval,omitempty"`
	FirstAfter ptypes.Duration `description:"How long after start the first retention pass runs." json:"firstAfter,omitempty" yaml:"firstAfter,omitempty"`
}

// Memory sets up the Compressed tier's swap.
type Memory struct {
	SqueezeKeep string `description:"What squeezing a gateway into zram leaves resident (its most recently used pages), e.g. 128Mi: less saves memory, more makes its wake faster (fewer pages read back from zram)." json:"squeezeKeep,omitempty" yaml:"squeezeKeep,omitempty"`
	Zram        string `description:"zram swap device for the Compressed sleep tier: auto (a quarter of the host's memory), off, or a size such as 6Gi. Needs root and a kernel with zram; clawd never touches swap it did not make, and running gateways never swap." json:"zram,omitempty" yaml:"zram,omitempty"`
	// ZramAlgorithm is the compressor of the zram device clawd makes.
	ZramAlgorithm string `description:"Compressor of the zram device clawd makes: auto (lzo-rle if the kernel has it, else lz4: lzo-rle measured 2.6-2.75x against lz4's 2.5x on real gateways, with wakes no slower), or one the kernel offers (cat /sys/block/zram*/comp_algorithm). A device made by an earlier run keeps its compressor." json:"zramAlgorithm,omitempty" yaml:"zramAlgorithm,omitempty"`
}

// Volumes says where namespaces' data lives.
type Volumes struct {
	Shared string `description:"Directory on storage every node of the cluster mounts at the same path (NFS, say): each volume is a bind of DIR/NAME, and the namespaces of a node that is gone are moved to live nodes. Empty (the default): Docker's local volumes; a gone node's namespaces are marked Failed until it returns." json:"shared,omitempty" yaml:"shared,omitempty"`
}

// Ledger says where usage events are kept.
type Ledger struct {
	DSN string `description:"PostgreSQL connection (postgres://user@host/db) shared by every node of a cluster. Empty (the default): SQLite in the data dir (ledger.db), for one node." json:"dsn,omitempty" yaml:"dsn,omitempty"`
	// FlushInterval bounds what a crash loses.
	FlushInterval ptypes.Duration `description:"How often queued usage events are written to the ledger in one transaction: a crash of clawd loses at most the events of the last interval." json:"flushInterval,omitempty" yaml:"flushInterval,omitempty"`
}

// Metering sets the sampling of compute and storage usage.
type Metering struct {
	ComputeInterval ptypes.Duration `description:"How often running gateways' cgroups are read for CPU time and memory held." json:"computeInterval,omitempty" yaml:"computeInterval,omitempty"`
	StorageInterval ptypes.Duration `description:"How often namespaces' volumes are measured for storage used." json:"storageInterval,omitempty" yaml:"storageInterval,omitempty"`
}

// Skills bounds namespaces.<ns>.skills.path.
type Skills struct {
	Roots []string `description:"Directories a namespace's skills.path must be in, after symlinks are resolved, e.g. /srv/clawd/skills (comma-separated). Empty (the default) allows no host skills directory. The data dir, the secrets key and the certificate dir are refused wherever they are." json:"roots,omitempty" yaml:"roots,omitempty"`
}

// Billing configures the billing provider's endpoints.
type Billing struct {
	Stripe *Stripe `description:"Stripe." json:"stripe,omitempty" yaml:"stripe,omitempty"`
}

// Stripe says where Stripe's API is.
type Stripe struct {
	APIBase string `description:"Base URL of Stripe's API; tests point it at stripe-mock (http://127.0.0.1:12111)." json:"apiBase,omitempty" yaml:"apiBase,omitempty"`
}

// DefaultStripeAPIBase is Stripe's own API.
const DefaultStripeAPIBase = "https://api.stripe.com"

// ModelGW configures the model gateway.
type ModelGW struct {
	Address string          `description:"Address the model gateway listens on. An empty host (the default, :7071) means the host's address on Docker's default bridge (docker0): every gateway container reaches it, nothing off the host does." json:"address,omitempty" yaml:"address,omitempty"`
	Linger  ptypes.Duration `description:"How long a call's provider stream is still read after the gateway hung up, so its token usage is counted." json:"linger,omitempty" yaml:"linger,omitempty"`
}

// Secrets says where the secrets key comes from.
type Secrets struct {
	KeyFile string `description:"File holding the secrets key (32 bytes, base64); created with a random key, mode 0600, on first start. Default: secrets.key in the data dir." json:"keyFile,omitempty" yaml:"keyFile,omitempty"`
	Key     string `description:"The secrets key itself (base64 or hex of 32 bytes), usually given as CLAWD_SECRETS_KEY; wins over keyFile. Several comma-separated, oldest first, are the env key source's versions (the last wraps new data keys)." json:"key,omitempty" yaml:"key,omitempty"`
	// KeySource picks the KEK that wraps every secret's data key.
	KeySource string `description:"What wraps each secret's data key: file (the key file, default), env (CLAWD_SECRETS_KEY; the default when it is set) or vault (Vault transit, see --vault.*). The key file or CLAWD_SECRETS_KEY is needed with every source: it derives token keys and opens secrets sealed before envelopes (v1)." json:"keySource,omitempty" yaml:"keySource,omitempty"`
}

// Runtime sets the memory budget.
type Runtime struct {
	MemoryBudget   string `description:"Memory all gateways and spares may hold together, e.g. 20Gi (default: 90% of the host's memory). Wakes and creates that would not fit first stop idle namespaces, else get 503." json:"memoryBudget,omitempty" yaml:"memoryBudget,omitempty"`
	MemoryEstimate string `description:"Memory counted for a gateway without a memory quota." json:"memoryEstimate,omitempty" yaml:"memoryEstimate,omitempty"`
}

// Warmpool sizes the pool of pre-started gateways.
type Warmpool struct {
	Size   int    `description:"How many ready gateways to keep for new namespaces (0 disables the pool)." json:"size,omitempty" yaml:"size,omitempty"`
	CPU    string `description:"CPU cap of a spare until a namespace adopts it and applies its own." json:"cpu,omitempty" yaml:"cpu,omitempty"`
	Memory string `description:"Memory cap of a spare until adoption (e.g. 2Gi)." json:"memory,omitempty" yaml:"memory,omitempty"`
}

// Reaper tunes the idle reaper and the leak reaper.
type Reaper struct {
	Interval     ptypes.Duration `description:"How often idle namespaces are checked against their tiers." json:"interval,omitempty" yaml:"interval,omitempty"`
	LeakInterval ptypes.Duration `description:"How often Docker is searched for objects no namespace owns." json:"leakInterval,omitempty" yaml:"leakInterval,omitempty"`
	Grace        ptypes.Duration `description:"How long an unowned object is left alone before it is removed." json:"grace,omitempty" yaml:"grace,omitempty"`
	DryRun       bool            `description:"Only log what the leak reaper would remove." json:"dryRun,omitempty" yaml:"dryRun,omitempty"`
}

// Node names this host.
type Node struct {
	Name string `description:"Node name, unique in the cluster (default: the hostname)." json:"name,omitempty" yaml:"name,omitempty"`
	// Labels are matched by namespace create --node-selector.
	Labels []string `description:"Labels of this node as key=value (comma-separated), e.g. zone=eu-1,disk=ssd; namespace create --node-selector picks nodes by them." json:"labels,omitempty" yaml:"labels,omitempty"`
	// PeerAddress is the node-to-node listener (mutual TLS with the
	// cluster's own CA): other nodes' routers forward this node's tenants'
	// requests there.
	Grace       ptypes.Duration `description:"How long a node's lease must stay expired before the node is declared gone (its namespaces moved or marked Failed), and how long a container of a namespace since placed elsewhere is left before it is removed." json:"grace,omitempty" yaml:"grace,omitempty"`
	PeerAddress string          `description:"Address of the node-to-node listener other nodes' routers forward this node's tenants' requests to, over TLS with certificates of the cluster's own CA, e.g. 10.0.0.5:7443 (empty: off; a single node needs none). Must be reachable from the other nodes." json:"peerAddress,omitempty" yaml:"peerAddress,omitempty"`
}

// Log configures the root logger.
type Log struct {
	Level  string `description:"Log level: trace, debug, info, warn, error." json:"level,omitempty" yaml:"level,omitempty"`
	Format string `description:"Log format: text or json." json:"format,omitempty" yaml:"format,omitempty"`
}

// Router configures the tenant-facing listener.
type Router struct {
	Address               string          `description:"Address tenants' HTTP traffic arrives on." json:"address,omitempty" yaml:"address,omitempty"`
	WakeTimeout           ptypes.Duration `description:"How long a request for a sleeping namespace is held while it wakes; then 503." json:"wakeTimeout,omitempty" yaml:"wakeTimeout,omitempty"`
	ReadHeaderTimeout     ptypes.Duration `description:"How long a client has to send a request's head (from the connection, or a keep-alive request's first byte); slower clients are cut off." json:"readHeaderTimeout,omitempty" yaml:"readHeaderTimeout,omitempty"`
	MaxHeaderBytes        int             `description:"Largest request head (request line and header fields) in bytes; a bigger one gets 431. Each open connection holds a buffer of this size." json:"maxHeaderBytes,omitempty" yaml:"maxHeaderBytes,omitempty"`
	TLSAddress            string          `description:"Address of the HTTPS listener, serving the same routes; empty disables it. It is only opened when a certificate source (certDir or acme.caServer) is set." json:"tlsAddress,omitempty" yaml:"tlsAddress,omitempty"`
	CertDir               string          `description:"Directory of NAME.crt/NAME.key PEM pairs, each served by SNI for the DNS names in its certificate (wildcards too); re-read when it changes. File certificates win over ACME ones." json:"certDir,omitempty" yaml:"certDir,omitempty"`
	ACME                  *ACME           `description:"Automatic certificates for namespace hostnames from an ACME CA." json:"acme,omitempty" yaml:"acme,omitempty"`
	HTTPSRedirect         bool            `description:"Redirect plain HTTP requests (308) to HTTPS for hosts that have a certificate." json:"httpsRedirect,omitempty" yaml:"httpsRedirect,omitempty"`
	ResponseHeaderTimeout ptypes.Duration `description:"How long a gateway has to send a reply's head once it has the request; then the client gets 504. Generous: OpenClaw answers a non-streamed chat completion only when the whole agent run is done. A stream, once its head is in, is not limited." json:"responseHeaderTimeout,omitempty" yaml:"responseHeaderTimeout,omitempty"`
	WSHandshakeTimeout    ptypes.Duration `description:"How long a gateway has to answer a WebSocket upgrade; then the client gets 504." json:"wsHandshakeTimeout,omitempty" yaml:"wsHandshakeTimeout,omitempty"`
	AccessLog             bool            `description:"Write one JSON line per request to standard output (namespace, key id, method, host, path without query, status, duration, bytes, wake wait, client address)." json:"accessLog,omitempty" yaml:"accessLog,omitempty"`
}

// ACME configures automatic certificates. They are requested on the first
// TLS handshake for a hostname a namespace owns, and never for any other.
type ACME struct {
	CAServer string `description:"ACME directory URL of the CA; empty disables ACME." json:"caServer,omitempty" yaml:"caServer,omitempty"`
	Email    string `description:"Contact address given to the CA for expiry notices." json:"email,omitempty" yaml:"email,omitempty"`
	CARoots  string `description:"PEM file of extra root certificates to trust for the CA's API (a private or test CA such as Pebble)." json:"caRoots,omitempty" yaml:"caRoots,omitempty"`
}

// API configures the admin listener.
type API struct {
	Address       string `description:"Address of the admin API (keep it on loopback or a private network)." json:"address,omitempty" yaml:"address,omitempty"`
	MetricsPublic bool   `description:"Serve /metrics without the admin token. Off by default: the series name every namespace." json:"metricsPublic,omitempty" yaml:"metricsPublic,omitempty"`
}

// Docker says how to reach the engine.
type Docker struct {
	Host       string `description:"Docker engine address (default: DOCKER_HOST or the local socket)." json:"host,omitempty" yaml:"host,omitempty"`
	SubnetPool string `description:"IPv4 CIDR the per-namespace bridge networks are carved from, a /28 each (Docker's own pools run out near 30 networks); empty uses Docker's pools." json:"subnetPool,omitempty" yaml:"subnetPool,omitempty"`
}

// Gateway describes the container every namespace runs.
type Gateway struct {
	Image     string `description:"Gateway image." json:"image,omitempty" yaml:"image,omitempty"`
	Port      int    `description:"Port the gateway listens on inside its container." json:"port,omitempty" yaml:"port,omitempty"`
	ReadyPath string `description:"Path that answers {\"ready\":true} once the gateway accepts traffic." json:"readyPath,omitempty" yaml:"readyPath,omitempty"`
	StateDir  string `description:"Where the data volume is mounted in the container (the gateway's state dir)." json:"stateDir,omitempty" yaml:"stateDir,omitempty"`
	SkillsDir string `description:"Where the skills volume is mounted in the container." json:"skillsDir,omitempty" yaml:"skillsDir,omitempty"`
	PidsLimit int64  `description:"Maximum processes per gateway container." json:"pidsLimit,omitempty" yaml:"pidsLimit,omitempty"`
}

// Etcd selects the store.
type Etcd struct {
	Endpoints []string `description:"External etcd endpoints; empty starts an embedded etcd in the data dir." json:"endpoints,omitempty" yaml:"endpoints,omitempty"`
	ClientURL string   `description:"Embedded etcd: client listen URL." json:"clientURL,omitempty" yaml:"clientURL,omitempty"`
	PeerURL   string   `description:"Embedded etcd: peer listen URL." json:"peerURL,omitempty" yaml:"peerURL,omitempty"`
}

// Supervisor tunes reconciliation and crash handling.
type Supervisor struct {
	ResyncInterval   ptypes.Duration `description:"Period of the full reconcile pass (events can be lost)." json:"resyncInterval,omitempty" yaml:"resyncInterval,omitempty"`
	StartTimeout     ptypes.Duration `description:"How long a gateway may take to become ready before it counts as a failed start." json:"startTimeout,omitempty" yaml:"startTimeout,omitempty"`
	BackoffMax       ptypes.Duration `description:"Cap of the exponential restart backoff." json:"backoffMax,omitempty" yaml:"backoffMax,omitempty"`
	MaxRestarts      int             `description:"Failures close together (crashes, failed starts) before a namespace is marked Failed; it is still retried, every failedBackoffMax at most." json:"maxRestarts,omitempty" yaml:"maxRestarts,omitempty"`
	FailedBackoffMax ptypes.Duration `description:"Cap of the retry backoff once a namespace is Failed (clawd never gives up for good; the backoff doubles from backoffMax)." json:"failedBackoffMax,omitempty" yaml:"failedBackoffMax,omitempty"`
	StablePeriod     ptypes.Duration `description:"How long a gateway stays ready before its failures are forgotten: only crashes closer together count towards maxRestarts." json:"stablePeriod,omitempty" yaml:"stablePeriod,omitempty"`
	StopTimeout      ptypes.Duration `description:"Drain period between SIGTERM and SIGKILL when a gateway is stopped." json:"stopTimeout,omitempty" yaml:"stopTimeout,omitempty"`
}

// SetDefaults fills every option with its default.
func (s *Static) SetDefaults() {
	host, _ := os.Hostname()
	s.DataDir = "/var/lib/clawd"
	s.Node = &Node{Name: host, Grace: ptypes.Duration(30 * time.Second)}
	s.Volumes = &Volumes{}
	s.Log = &Log{Level: "info", Format: "text"}
	s.Router = &Router{Address: ":80", WakeTimeout: ptypes.Duration(60 * time.Second), TLSAddress: ":443", ACME: &ACME{}, AccessLog: true,
		ReadHeaderTimeout: ptypes.Duration(10 * time.Second), MaxHeaderBytes: 64 << 10,
		ResponseHeaderTimeout: ptypes.Duration(5 * time.Minute), WSHandshakeTimeout: ptypes.Duration(30 * time.Second)}
	s.API = &API{Address: "127.0.0.1:7070"}
	s.Docker = &Docker{SubnetPool: "10.213.0.0/16"}
	s.Gateway = &Gateway{
		Image:     DefaultGatewayImage,
		Port:      18789,
		ReadyPath: "/readyz",
		StateDir:  "/home/node/.openclaw",
		SkillsDir: "/home/node/skills",
		PidsLimit: 512,
	}
	s.Etcd = &Etcd{ClientURL: "http://127.0.0.1:2379", PeerURL: "http://127.0.0.1:2380"}
	s.Supervisor = &Supervisor{
		ResyncInterval:   ptypes.Duration(30 * time.Second),
		StartTimeout:     ptypes.Duration(120 * time.Second),
		BackoffMax:       ptypes.Duration(30 * time.Second),
		MaxRestarts:      5,
		FailedBackoffMax: ptypes.Duration(5 * time.Minute),
		StablePeriod:     ptypes.Duration(3 * time.Minute),
		StopTimeout:      ptypes.Duration(10 * time.Second),
	}
	s.Runtime = &Runtime{MemoryEstimate: "1Gi"}
	s.ModelGW = &ModelGW{Address: ":7071", Linger: ptypes.Duration(30 * time.Second)}
	s.Secrets = &Secrets{}
	s.Vault = &Vault{Mount: "transit"}
	s.Ledger = &Ledger{FlushInterval: ptypes.Duration(time.Second)}
	s.Metering = &Metering{ComputeInterval: ptypes.Duration(15 * time.Second), StorageInterval: ptypes.Duration(5 * time.Minute)}
	s.Skills = &Skills{}
	s.Billing = &Billing{Stripe: &Stripe{APIBase: DefaultStripeAPIBase}}
	s.Retention = &Retention{Interval: ptypes.Duration(24 * time.Hour), FirstAfter: ptypes.Duration(5 * time.Minute)}
	s.Warmpool = &Warmpool{Size: 2, CPU: "1", Memory: "2Gi"}
	s.Memory = &Memory{Zram: "auto", ZramAlgorithm: "auto", SqueezeKeep: "128Mi"}
	s.Reaper = &Reaper{
		Interval:     ptypes.Duration(5 * time.Second),
		LeakInterval: ptypes.Duration(time.Minute),
		Grace:        ptypes.Duration(10 * time.Minute),
	}
}

// DefaultGatewayImage is the image built from Dockerfile.gateway.
const DefaultGatewayImage = "clawd-gateway:2026.9.6"

// LoadStatic reads the static configuration: defaults, then the file named
// by --configfile (if any), then CLAWD_* variables, then flags.
func LoadStatic(args, environ []string) (*Static, error) {
	s := &Static{}
	s.SetDefaults()

	args, configFile, err := takeConfigFile(args)
	if err != nil {
		return nil, err
	}
	if configFile != "" {
		if err := checkKnownKeys(configFile); err != nil {
			return nil, err
		}
		if err := file.Decode(configFile, s); err != nil {
			return nil, fmt.Errorf("config file %s: %w", configFile, friendly(err))
		}
	}
	if vars := env.FindPrefixedEnvVars(environ, EnvPrefix, s); len(vars) > 0 {
		if err := env.Decode(vars, EnvPrefix, s); err != nil {
			return nil, fmt.Errorf("%s* environment: %w", EnvPrefix, friendly(err))
		}
	}
	if len(args) > 0 {
		if err := flag.Decode(args, s); err != nil {
			return nil, fmt.Errorf("flags: %w (see 'clawd up --help')", friendly(err))
		}
	}
	return s, s.validate()
}

// takeConfigFile removes --configfile from args; paerser's flag decoder
// would refuse it as an unknown option.
func takeConfigFile(args []string) ([]string, string, error) {
	var rest []string
	var path string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !strings.EqualFold(name, "configfile") {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, "", errors.New("--configfile needs a file path")
			}
			i++
			value = args[i]
		}
		path = value
	}
	return rest, path, nil
}

// checkKnownKeys refuses unknown top-level keys, which paerser's file
// decoder skips silently (it refuses unknown nested keys itself).
func checkKnownKeys(path string) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".yaml" && ext != ".yml" {
		return fmt.Errorf("config file %s: unsupported extension (use .yaml or .yml)", path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	var data map[string]any
	if err := yaml.Unmarshal(raw, &data); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	known := map[string]bool{}
	var names []string
	t := reflect.TypeOf(Static{})
	for i := 0; i < t.NumField(); i++ {
		known[strings.ToLower(t.Field(i).Name)] = true
		names = append(names, lowerFirst(t.Field(i).Name))
	}
	for k := range data {
		if !known[strings.ToLower(k)] {
			return fmt.Errorf("config file %s: unknown key %q (valid top-level keys: %s)", path, k, strings.Join(names, ", "))
		}
	}
	return nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	if strings.ToUpper(s) == s {
		return strings.ToLower(s)
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func (s *Static) validate() error {
	if s.Router.ReadHeaderTimeout <= 0 {
		return fmt.Errorf("invalid --router.readheadertimeout %s: must be a positive duration", time.Duration(s.Router.ReadHeaderTimeout))
	}
	if s.Router.ResponseHeaderTimeout <= 0 {
		return fmt.Errorf("invalid --router.responseheadertimeout %s: must be a positive duration", time.Duration(s.Router.ResponseHeaderTimeout))
	}
	if s.Router.WSHandshakeTimeout <= 0 {
		return fmt.Errorf("invalid --router.wshandshaketimeout %s: must be a positive duration", time.Duration(s.Router.WSHandshakeTimeout))
	}
	if s.Router.MaxHeaderBytes < 4<<10 || s.Router.MaxHeaderBytes > 1<<20 {
		return fmt.Errorf("invalid --router.maxheaderbytes %d: use 4096 to 1048576", s.Router.MaxHeaderBytes)
	}
	switch s.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("invalid --log.format %q: use text or json", s.Log.Format)
	}
	if s.DataDir == "" {
		return errors.New("--datadir must not be empty")
	}
	if s.Gateway.Port <= 0 || s.Gateway.Port > 65535 {
		return fmt.Errorf("invalid --gateway.port %d: use 1-65535", s.Gateway.Port)
	}
	if !strings.HasPrefix(s.Gateway.ReadyPath, "/") {
		return fmt.Errorf("invalid --gateway.readypath %q: must start with /", s.Gateway.ReadyPath)
	}
	if s.Gateway.Image == "" {
		return errors.New("--gateway.image must not be empty")
	}
	if s.Supervisor.ResyncInterval <= 0 || s.Reaper.Interval <= 0 || s.Reaper.LeakInterval <= 0 {
		return errors.New("--supervisor.resyncinterval, --reaper.interval and --reaper.leakinterval must be positive durations")
	}
	if s.Node.Grace <= 0 {
		return fmt.Errorf("invalid --node.grace %s: must be a positive duration", time.Duration(s.Node.Grace))
	}
	if s.Volumes.Shared != "" && !filepath.IsAbs(s.Volumes.Shared) {
		return fmt.Errorf("invalid --volumes.shared %q: must be an absolute path", s.Volumes.Shared)
	}
	if s.Warmpool.Size < 0 {
		return fmt.Errorf("invalid --warmpool.size %d: must be 0 or more", s.Warmpool.Size)
	}
	if s.Runtime.MemoryBudget != "" {
		if _, err := units.ParseBytes(s.Runtime.MemoryBudget); err != nil {
			return fmt.Errorf("--runtime.memorybudget: %w", err)
		}
	}
	if err := zram.ParseSize(s.Memory.Zram); err != nil {
		return err
	}
	if err := zram.ParseAlgorithm(s.Memory.ZramAlgorithm); err != nil {
		return err
	}
	if _, err := units.ParseBytes(s.Memory.SqueezeKeep); err != nil {
		return fmt.Errorf("--memory.squeezekeep: %w", err)
	}
	if _, err := units.ParseBytes(s.Runtime.MemoryEstimate); err != nil {
		return fmt.Errorf("--runtime.memoryestimate: %w", err)
	}
	if _, err := units.ParseCPU(s.Warmpool.CPU); err != nil {
		return fmt.Errorf("--warmpool.cpu: %w", err)
	}
	if _, err := units.ParseBytes(s.Warmpool.Memory); err != nil {
		return fmt.Errorf("--warmpool.memory: %w", err)
	}
	if a := s.Router.ACME; a != nil && a.CAServer != "" {
		if u, err := url.Parse(a.CAServer); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("invalid --router.acme.caserver %q: use the CA's https:// directory URL", a.CAServer)
		}
	}
	if _, _, err := net.SplitHostPort(s.ModelGW.Address); err != nil {
		return fmt.Errorf("invalid --modelgw.address %q: use host:port or :port", s.ModelGW.Address)
	}
	if s.Ledger.DSN != "" && !strings.HasPrefix(s.Ledger.DSN, "postgres://") && !strings.HasPrefix(s.Ledger.DSN, "postgresql://") {
		return errors.New("invalid --ledger.dsn: want postgres://user@host:5432/db, or leave it empty for SQLite in the data dir")
	}
	if s.Ledger.FlushInterval <= 0 || s.Metering.ComputeInterval <= 0 || s.Metering.StorageInterval <= 0 {
		return errors.New("--ledger.flushinterval, --metering.computeinterval and --metering.storageinterval must be positive durations, e.g. 1s")
	}
	if s.Retention.Interval <= 0 || s.Retention.FirstAfter < 0 {
		return errors.New("--retention.interval must be a positive duration (e.g. 24h) and --retention.firstafter not negative")
	}
	if s.ModelGW.Linger < 0 {
		return errors.New("--modelgw.linger must not be negative")
	}
	if err := s.SkillsPolicy().validateRoots(); err != nil {
		return err
	}
	if u, err := url.Parse(s.Billing.Stripe.APIBase); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("invalid --billing.stripe.apibase %q: use a base URL such as %s (no path)", s.Billing.Stripe.APIBase, DefaultStripeAPIBase)
	}
	switch s.Secrets.KeySource {
	case "", "file", "env":
	case "vault":
		if s.Vault.Address == "" || s.Vault.TokenFile == "" || s.Vault.Key == "" {
			return errors.New("--secrets.keysource=vault needs --vault.address, --vault.tokenfile and --vault.key")
		}
	default:
		return fmt.Errorf("invalid --secrets.keysource %q: use file, env or vault", s.Secrets.KeySource)
	}
	if s.Supervisor.MaxRestarts < 1 {
		return fmt.Errorf("invalid --supervisor.maxrestarts %d: must be at least 1", s.Supervisor.MaxRestarts)
	}
	if s.Supervisor.FailedBackoffMax <= 0 || s.Supervisor.StablePeriod <= 0 {
		return errors.New("--supervisor.failedbackoffmax and --supervisor.stableperiod must be positive")
	}
	return nil
}

// friendly rewrites paerser's "field not found, node: x" into words a user
// can act on.
func friendly(err error) error {
	msg := err.Error()
	if _, key, ok := strings.Cut(msg, "field not found, node: "); ok {
		return fmt.Errorf("unknown option %q", key)
	}
	return err
}

// MemoryBudget returns the budget in bytes: the configured one, else 90% of
// the host's memory, leaving room for clawd, Docker and the system.
func (s *Static) MemoryBudget() (int64, error) {
	if s.Runtime.MemoryBudget != "" {
		return units.ParseBytes(s.Runtime.MemoryBudget)
	}
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("reading the host's memory (set --runtime.memorybudget): %w", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				break
			}
			return kib * 1024 / 10 * 9, nil
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo; set --runtime.memorybudget")
}
