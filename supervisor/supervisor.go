// Package supervisor keeps every namespace's gateway as its spec says:
// a level-triggered reconcile of the store's desired state against what the
// runtime reports, woken by store watches and runtime events and backed by a
// periodic full pass, because event streams drop messages.
package supervisor

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/singleflight"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/openclawcfg"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/store"
)

// Store is what the supervisor needs from the state store.
type Store interface {
	WatchNamespaces(ctx context.Context) <-chan store.Event
	PutStatus(ctx context.Context, name string, st namespace.Status) error
	DeleteNamespace(ctx context.Context, name string) error
	UpdateSpec(ctx context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error)
}

// ConfigWatcher feeds the dynamic config (`clawd config set`). A Store
// that has it gets each gateway's config rewritten when a value it reads
// changes; without it gateways get the defaults.
type ConfigWatcher interface {
	WatchConfig(ctx context.Context) <-chan map[string]string
}

// Models gives each gateway the model providers it reaches through clawd's
// model gateway (openclawcfg.Models).
type Models interface {
	Models(spec namespace.Spec) openclawcfg.Models
	// Changes fires when what Models returns may have changed (a provider
	// added or removed): every gateway's config is rendered again.
	Changes() <-chan struct{}
}

// Pool hands out ready warm-pool gateways.
type Pool interface {
	Take() (runtime.Instance, bool)
	Release(id string)
}

// Gate is the router's door to a namespace's gateway (reaper.Activity).
type Gate interface {
	// Close shuts it and returns how many requests, WebSockets and
	// streams are open.
	Close(ns string) int64
	// Open reopens it.
	Open(ns string)
}

// Gateway is the template every namespace's container is made from.
type Gateway struct {
	// Spec holds what every gateway shares (image, port, dirs, pids
	// limit, environment); gatewaySpec adds the namespace's part. The
	// warm pool's spares are made from the same template.
	Spec      runtime.GatewaySpec
	ReadyPath string
	// SubnetPool is what every gateway's network is carved from; gateways
	// trust it as their proxy (openclawcfg.Options.SubnetPool).
	SubnetPool netip.Prefix
	// RouterHTTPPort and RouterHTTPSPort are the router's listening ports
	// (0: off), for the Control UI origins in each gateway's config.
	RouterHTTPPort, RouterHTTPSPort int
}

// Config tunes the supervisor.
type Config struct {
	Node           string
	Gateway        Gateway
	ResyncInterval time.Duration
	StartTimeout   time.Duration
	BackoffBase    time.Duration
	BackoffMax     time.Duration
	// MaxRestarts failures in a row (crashes, failed starts) make a
	// namespace Failed; it is still tried again, every FailedBackoffMax at most.
	MaxRestarts      int
	FailedBackoffMax time.Duration
	// StablePeriod is how long a gateway stays ready before its failures
	// are forgotten: only crashes close together count as a loop.
	StablePeriod time.Duration
	// Metrics, when set, counts OOM kills.
	Metrics Metrics
	// StopTimeout is the drain period between SIGTERM and SIGKILL.
	StopTimeout time.Duration
	// Pool, when set, gives new namespaces a pre-started gateway.
	Pool Pool
	// Models, when set, lists model providers in every gateway's config.
	Models Models
	// MemoryBudget caps the memory all gateways and spares may hold (0: no
	// budget); MemoryEstimate is what an uncapped gateway is counted as.
	MemoryBudget   int64
	MemoryEstimate int64
	// Skills says where namespaces.<ns>.skills.path may point; it is
	// checked again before every start. The zero policy allows none.
	Skills config.SkillsPolicy
	// Activity feeds the least-recently-used choice under memory pressure.
	Activity Activity
	// Gate, when set, is shut before a gateway is paused or stopped, so
	// the router holds new requests and wakes the namespace instead.
	Gate Gate
	// Phases, when set, hears of every phase a namespace's status moves
	// to (the audit log's wakes and sleeps); it must not block.
	Phases PhaseObserver
	// Volumes, when set, gives namespaces with storage caps or
	// encryption their own filesystems (volumes.Manager).
	Volumes Volumes
	// Swap, when set and available, is where the Compressed tier squeezes
	// paused gateways; without it a Compressed target stays Paused.
	Swap Swap
	// SqueezeKeep is what a squeeze leaves resident: the pages a gateway
	// touched last, which its next request most likely needs again.
	SqueezeKeep int64
	// Fence, when set, keeps gateways from starting while it is up (see
	// fence.go).
	Fence   Fence
	Workers int
	Logger  hclog.Logger
}

// PhaseObserver is told when a namespace's status changes phase.
type PhaseObserver interface {
	PhaseChanged(ns string, from, to namespace.Phase, reason string)
}

// Supervisor reconciles namespaces owned by this node.
type Supervisor struct {
	cfg    Config
	rt     runtime.Runtime
	st     Store
	log    hclog.Logger
	q      *queue
	client *http.Client
	// probeHeader goes on every ready probe; see probe.ReadyWith.
	probeHeader http.Header

	mu     sync.Mutex
	known  map[string]namespace.Namespace // latest from the store watch
	values map[string]string              // latest dynamic config
	tracks map[string]*track
	synced chan struct{}
	// running has one channel per namespace someone waits on; it is closed
	// when the namespace's status turns Running.
	running map[string]chan struct{}
	wakes   singleflight.Group
	// reserved is memory promised to namespaces on their way up, from the
	// check that admitted them until their status says the gateway holds
	// it (see reserve).
	reserved map[string]int64
	// victims lists, per namespace waiting for memory, the namespaces
	// being stopped to make room for it.
	victims map[string][]string
	// waking counts wakes in flight per namespace: none is a victim.
	waking map[string]int
	// engineLost is when the runtime's event stream last broke and
	// engineUp when the engine answered after that: exits in between are
	// the engine's doing, not the gateways' (see byEngine).
	engineLost, engineUp time.Time
	// started is when this supervisor was made: an exit before it
	// happened while clawd was down, most likely with the host or engine.
	started time.Time
}

// New makes a supervisor; Run starts it.
func New(cfg Config, rt runtime.Runtime, st Store) *Supervisor {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 30 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.FailedBackoffMax <= 0 {
		cfg.FailedBackoffMax = 5 * time.Minute
	}
	if cfg.StablePeriod <= 0 {
		cfg.StablePeriod = 3 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Supervisor{
		cfg:         cfg,
		rt:          rt,
		st:          st,
		log:         cfg.Logger,
		q:           newQueue(),
		client:      &http.Client{Timeout: 2 * time.Second},
		probeHeader: http.Header{"X-Forwarded-For": {openclawcfg.HostAddress()}},
		known:       map[string]namespace.Namespace{},
		tracks:      map[string]*track{},
		synced:      make(chan struct{}),
		running:     map[string]chan struct{}{},
		reserved:    map[string]int64{},
		victims:     map[string][]string{},
		waking:      map[string]int{},
		started:     time.Now(),
	}
}

// Synced is closed once the first snapshot of the store has been queued.
func (s *Supervisor) Synced() <-chan struct{} { return s.synced }

// Run reconciles until ctx ends. It never stops or removes containers on
// the way out: tenants keep running while clawd restarts.
func (s *Supervisor) Run(ctx context.Context) {
	if cw, ok := s.st.(ConfigWatcher); ok {
		// The first gateways started should get their models right away,
		// not a config without them rewritten a moment later.
		first := make(chan struct{})
		go s.watchConfig(ctx, cw, first)
		select {
		case <-first:
		case <-time.After(10 * time.Second):
			s.log.Warn("no dynamic config from the store yet; gateways start with defaults until it comes")
		case <-ctx.Done():
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < s.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				name, ok := s.q.get()
				if !ok {
					return
				}
				s.reconcile(ctx, name)
				s.q.done(name)
			}
		}()
	}
	go s.watchStore(ctx)
	go s.watchRuntime(ctx)
	if s.cfg.Models != nil {
		go s.watchModels(ctx)
	}
	go s.resync(ctx)
	<-ctx.Done()
	s.q.close()
	wg.Wait()
}

// Snapshot returns the namespaces this node runs, as last seen.
func (s *Supervisor) Snapshot() []namespace.Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]namespace.Namespace, 0, len(s.known))
	for _, ns := range s.known {
		if ns.Spec.Node == "" || ns.Spec.Node == s.cfg.Node {
			out = append(out, ns)
		}
	}
	return out
}
