// Package warmpool keeps pre-started gateways that belong to no namespace,
// so a new namespace adopts one in well under a second instead of paying
// the gateway's 15–20 s cold start.
package warmpool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/openclawcfg"
	"github.com/clawd-dev/clawd/probe"
	"github.com/clawd-dev/clawd/runtime"
)

// Config tunes the pool.
type Config struct {
	// Size is how many ready spares the pool keeps.
	Size int
	// Spec is the template of every spare (Namespace empty). Its caps are
	// the spare's until a namespace adopts it and applies its own.
	Spec      runtime.GatewaySpec
	ReadyPath string
	// Interval is the period of the full refill pass.
	Interval time.Duration
	Logger   hclog.Logger
	// Fits, when set, is asked before a spare is started: spares never push
	// the host over its memory budget.
	Fits func(bytes int64) bool
	// SpareFiles, when set and the runtime can tell the router's address
	// on a spare's network (runtime.SpareAddresser), renders the spare's
	// state files for that address, replacing Spec.StateFiles: the spare
	// then trusts only the router from its first start, as its namespace's
	// gateway will.
	SpareFiles func(router netip.Addr) (map[string][]byte, error)
}

// refillDelay is how long after handing out a spare the pool waits before
// it makes another.
const refillDelay = 2 * time.Second

// Pool manages the spares. Take hands out each ready spare at most once;
// the runtime's rename on adoption makes that claim durable.
type Pool struct {
	cfg    Config
	rt     runtime.Pool
	log    hclog.Logger
	client *http.Client
	kick   chan struct{}
	// probeHeader attributes the probes to the host, as a trusted proxy
	// must: a spare trusts the router's address on its network (or clawd's
	// subnet pool; openclawcfg.Spare), where the probes come from.
	probeHeader http.Header

	mu    sync.Mutex
	ready map[string]runtime.Instance // spare id → ready spare
	taken map[string]bool             // handed out, maybe not renamed yet
	// lastTake is when a spare was last handed out; refills wait a
	// moment after it (see Take).
	lastTake time.Time
	total    int // spares alive at the last pass
	// members are the spares listed at the last pass and those being
	// created: the leak reaper leaves their objects alone.
	members map[string]bool
}

// New makes a pool; Run keeps it filled.
func New(cfg Config, rt runtime.Pool) *Pool {
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Pool{cfg: cfg, rt: rt, log: cfg.Logger, client: &http.Client{Timeout: time.Second},
		probeHeader: http.Header{"X-Forwarded-For": {openclawcfg.HostAddress()}},
		kick:        make(chan struct{}, 1), ready: map[string]runtime.Instance{}, taken: map[string]bool{},
		members: map[string]bool{}}
}

// Take returns a ready spare for a namespace to adopt, or false when none
// is ready. The pool refills in the background.
func (p *Pool) Take() (runtime.Instance, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Refill a moment later: creating a spare now would compete with the
	// adoption for the engine (network operations take a global lock).
	defer time.AfterFunc(refillDelay, p.Kick)
	for id, inst := range p.ready {
		delete(p.ready, id)
		p.taken[id] = true
		p.lastTake = time.Now()
		return inst, true
	}
	return runtime.Instance{}, false
}

// SetFits installs the memory budget check; call it before Run.
func (p *Pool) SetFits(fits func(bytes int64) bool) { p.cfg.Fits = fits }

// Kick asks for a refill pass now.
func (p *Pool) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Status is what `clawd status` shows of the pool.
type Status struct {
	Size  int `json:"size"`
	Ready int `json:"ready"`
	Alive int `json:"alive"`
}

// Status reports the pool's fill.
func (p *Pool) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Status{Size: p.cfg.Size, Ready: len(p.ready), Alive: p.total}
}

// Run refills until ctx ends. Spares are left running on the way out; the
// next start finds them again.
func (p *Pool) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
		}
	}
}

func (p *Pool) pass(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	spares, err := p.rt.Spares(cctx)
	if err != nil {
		p.log.Warn("listing spares failed", "error", err)
		return
	}
	var alive []runtime.Instance
	for _, s := range spares {
		p.mu.Lock()
		taken := p.taken[s.SpareID]
		p.mu.Unlock()
		if taken {
			continue // being adopted; the rename will take it out of the list
		}
		// Created: left over from a CreateSpare cut short (passes run one at
		// a time, and each starts what it creates).
		if s.State == runtime.StateExited || s.State == runtime.StateCreated {
			p.log.Warn("spare died; replacing it", "spare", s.SpareID, "exit_code", s.ExitCode, "oom_killed", s.OOMKilled)
			p.remove(cctx, s.SpareID)
			continue
		}
		alive = append(alive, s)
	}
	// Too many (the size was lowered): drop the ones not ready first.
	for len(alive) > p.cfg.Size {
		victim := alive[len(alive)-1]
		alive = alive[:len(alive)-1]
		p.remove(cctx, victim.SpareID)
	}
	ready := map[string]runtime.Instance{}
	for _, s := range alive {
		if s.State == runtime.StateRunning && probe.ReadyWith(cctx, p.client, s.Address, p.cfg.ReadyPath, p.probeHeader) {
			ready[s.SpareID] = s
		}
	}
	p.mu.Lock()
	p.ready = ready
	p.total = len(alive)
	// Forget claims the runtime has settled: the spare is no longer listed.
	listed := map[string]bool{}
	for _, s := range spares {
		listed[s.SpareID] = true
	}
	for id := range p.taken {
		if !listed[id] {
			delete(p.taken, id)
		}
	}
	p.members = listed
	missing := p.cfg.Size - len(alive)
	if wait := refillDelay - time.Since(p.lastTake); missing > 0 && wait > 0 {
		// An adoption is under way: creating a spare now would slow the
		// tenant's first request. The Kick after Take refills.
		missing = 0
	}
	p.mu.Unlock()

	var wg sync.WaitGroup
	for i := 0; i < missing; i++ {
		if p.cfg.Fits != nil && !p.cfg.Fits(p.cfg.Spec.MemoryBytes*int64(i+1)) {
			p.log.Debug("memory budget leaves no room for more spares", "missing", missing-i)
			missing = i
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := newID()
			p.mu.Lock()
			p.members[id] = true
			p.mu.Unlock()
			spec := p.cfg.Spec
			spec.Namespace = ""
			if sa, ok := p.rt.(runtime.SpareAddresser); ok && p.cfg.SpareFiles != nil {
				router, err := sa.SpareRouterAddress(cctx, id)
				if err == nil {
					spec.StateFiles, err = p.cfg.SpareFiles(router)
				}
				if err != nil {
					p.log.Warn("creating spare failed", "spare", id, "error", err)
					return
				}
			}
			if _, err := p.rt.CreateSpare(cctx, id, spec); err != nil {
				p.log.Warn("creating spare failed", "spare", id, "error", err)
				return
			}
			p.log.Info("spare started", "spare", id)
		}()
	}
	wg.Wait()
	if missing > 0 || len(ready) < len(alive) {
		// Spares still starting: look again soon rather than at the next tick.
		time.AfterFunc(250*time.Millisecond, p.Kick)
	}
}

// Release returns a spare whose adoption failed before the rename, so it
// can be handed out again.
func (p *Pool) Release(id string) {
	p.mu.Lock()
	delete(p.taken, id)
	p.mu.Unlock()
	p.Kick()
}

// SpareMemory is the memory cap of one spare.
func (p *Pool) SpareMemory() int64 { return p.cfg.Spec.MemoryBytes }

// Alive is how many spares exist, ready or starting.
func (p *Pool) Alive() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// Shed removes up to n spares to give their memory back under pressure; the
// pool refills only when the budget allows again.
func (p *Pool) Shed(ctx context.Context, n int) int {
	p.mu.Lock()
	var ids []string
	for id := range p.ready {
		if len(ids) == n {
			break
		}
		ids = append(ids, id)
		delete(p.ready, id)
		p.taken[id] = true
	}
	p.mu.Unlock()
	shed := 0
	for _, id := range ids {
		if err := p.rt.RemoveSpare(ctx, id); err != nil {
			p.log.Warn("removing spare under memory pressure failed", "spare", id, "error", err)
			continue
		}
		shed++
		p.mu.Lock()
		p.total--
		p.mu.Unlock()
	}
	return shed
}

// Owns reports whether a runtime object is a pool member's: made for a
// spare the pool lists or is creating. A spare's network or container the
// pool no longer knows (a create or removal cut short) is a leak.
func (p *Pool) Owns(o runtime.Object) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return o.Namespace == "" && o.Spare != "" && p.members[o.Spare]
}

func (p *Pool) remove(ctx context.Context, id string) {
	if err := p.rt.RemoveSpare(ctx, id); err != nil {
		p.log.Warn("removing spare failed", "spare", id, "error", err)
		return
	}
	p.log.Info("spare removed", "spare", id)
}

func newID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
