// Package usage keeps today's model calls and tokens per namespace and
// model, as the model gateway reports them, so `clawd namespace
// quota-status` can show them (and quotas can check them). Each node
// counts its own calls in memory and writes its running totals to the
// store every few seconds under a key of its own, so nodes never contend;
// a reader sums the nodes. The metering ledger keeps every call.
package usage

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Model is one model's count on one day.
type Model struct {
	Model        string `json:"model"` // provider/model
	Calls        int64  `json:"calls"`
	Errors       int64  `json:"errors,omitempty"` // calls answered with a status of 400 or more
	InputTokens  int64  `json:"inputTokens"`
	OutputTokens int64  `json:"outputTokens"`
	// EstimatedCalls are calls whose tokens were estimated: the provider
	// reported no usage.
	EstimatedCalls int64 `json:"estimatedCalls,omitempty"`
}

// Day is one node's count for one namespace on one UTC day.
type Day struct {
	Namespace string            `json:"namespace"`
	Day       string            `json:"day"` // 2006-01-02, UTC
	Node      string            `json:"node"`
	Models    map[string]*Model `json:"models"`
}

// Call is what the counter needs of one model call.
type Call struct {
	Time                       time.Time
	Namespace, Provider, Model string
	Status                     int
	InputTokens, OutputTokens  int64
	Estimated                  bool
}

// Store keeps each node's days.
type Store interface {
	PutUsageDay(ctx context.Context, d Day) error
	ListUsageDay(ctx context.Context, day, namespace string) ([]Day, error)
}

// DayOf is the UTC day t falls on, as the store names it.
func DayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

type dayKey struct{ day, ns string }

// Counter counts this node's calls.
type Counter struct {
	node string
	st   Store
	log  hclog.Logger

	mu    sync.Mutex
	days  map[dayKey]*Day
	dirty map[dayKey]bool
	// loaded marks days whose earlier totals (before a restart) were read.
	loaded map[dayKey]bool
	// others caches the other nodes' days for Used.
	others map[dayKey]othersDay
}

type othersDay struct {
	read time.Time
	days []Day
}

// othersMaxAge is how old the other nodes' counts Used adds may be: about
// what their own flushes lag.
const othersMaxAge = 3 * time.Second

// NewCounter returns a counter for node writing to st.
func NewCounter(node string, st Store, log hclog.Logger) *Counter {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Counter{node: node, st: st, log: log, days: map[dayKey]*Day{}, dirty: map[dayKey]bool{}, loaded: map[dayKey]bool{}, others: map[dayKey]othersDay{}}
}

// Add counts one call. It never blocks on the store.
func (c *Counter) Add(call Call) {
	k := dayKey{DayOf(call.Time), call.Namespace}
	name := call.Provider + "/" + call.Model
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.day(k)
	m := d.Models[name]
	if m == nil {
		m = &Model{Model: name}
		d.Models[name] = m
	}
	m.Calls++
	if call.Status >= 400 {
		m.Errors++
	}
	m.InputTokens += call.InputTokens
	m.OutputTokens += call.OutputTokens
	if call.Estimated {
		m.EstimatedCalls++
	}
	c.dirty[k] = true
}

// day is k's day on this node, made empty when missing; c.mu is held.
func (c *Counter) day(k dayKey) *Day {
	d := c.days[k]
	if d == nil {
		d = &Day{Namespace: k.ns, Day: k.day, Node: c.node, Models: map[string]*Model{}}
		c.days[k] = d
	}
	return d
}

// Used returns namespace ns's counts on the UTC day of now on every node,
// by model: this node's exact to the last call, the other nodes' as they
// last wrote them (read again when older than a few seconds). For quotas,
// on the path of a model call: the store is read only when the other
// nodes' counts are stale, or this node's earlier totals (before a
// restart) were not read yet.
func (c *Counter) Used(ctx context.Context, ns string, now time.Time) ([]Model, error) {
	k := dayKey{DayOf(now), ns}
	if err := c.load(ctx, k); err != nil {
		return nil, err
	}
	c.mu.Lock()
	o, ok := c.others[k]
	c.mu.Unlock()
	if !ok || now.Sub(o.read) > othersMaxAge {
		all, err := c.st.ListUsageDay(ctx, k.day, ns)
		if err != nil {
			return nil, err
		}
		o = othersDay{read: now}
		for _, d := range all {
			if d.Node != c.node {
				o.days = append(o.days, d)
			}
		}
		c.mu.Lock()
		for dk := range c.others {
			if dk.day < k.day {
				delete(c.others, dk)
			}
		}
		c.others[k] = o
		c.mu.Unlock()
	}
	days := slices.Clone(o.days)
	c.mu.Lock()
	if d := c.days[k]; d != nil {
		days = append(days, clone(d))
	}
	c.mu.Unlock()
	return Sum(days), nil
}

// Run writes changed days every interval until ctx ends, then once more.
func (c *Counter) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c.Flush(fctx)
			cancel()
			return
		case <-t.C:
			c.Flush(ctx)
		}
	}
}

// Flush writes every changed day. A day this node counted before a
// restart is read first and added to, so its totals survive the restart.
func (c *Counter) Flush(ctx context.Context) {
	c.mu.Lock()
	keys := slices.Collect(maps.Keys(c.dirty))
	c.mu.Unlock()
	today := DayOf(time.Now())
	for _, k := range keys {
		if err := c.load(ctx, k); err != nil {
			c.log.Warn("reading earlier usage failed; will retry", "namespace", k.ns, "day", k.day, "error", err)
			continue
		}
		c.mu.Lock()
		d := clone(c.days[k])
		delete(c.dirty, k)
		c.mu.Unlock()
		if err := c.st.PutUsageDay(ctx, d); err != nil {
			c.log.Warn("writing usage failed; will retry", "namespace", k.ns, "day", k.day, "error", err)
			c.mu.Lock()
			c.dirty[k] = true
			c.mu.Unlock()
			continue
		}
	}
	c.prune(today)
}

// prune forgets what this node keeps of days before today that hold
// nothing left to write: the past days it wrote for good (they get no more
// calls), the empty ones reading a namespace's usage made, and the other
// nodes' counts read for them.
func (c *Counter) prune(today string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.days {
		if k.day < today && !c.dirty[k] {
			delete(c.days, k)
		}
	}
	for k := range c.loaded {
		if k.day < today && !c.dirty[k] {
			delete(c.loaded, k)
		}
	}
	for k := range c.others {
		if k.day < today {
			delete(c.others, k)
		}
	}
}

func (c *Counter) load(ctx context.Context, k dayKey) error {
	c.mu.Lock()
	done := c.loaded[k]
	c.mu.Unlock()
	if done {
		return nil
	}
	days, err := c.st.ListUsageDay(ctx, k.day, k.ns)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded[k] {
		return nil // read meanwhile
	}
	for _, old := range days {
		if old.Node != c.node || len(old.Models) == 0 {
			continue
		}
		d := c.day(k)
		for name, m := range old.Models {
			cur := d.Models[name]
			if cur == nil {
				cur = &Model{Model: name}
				d.Models[name] = cur
			}
			cur.add(*m)
		}
	}
	c.loaded[k] = true
	return nil
}

// Today returns namespace ns's counts today on every node, by model,
// after writing this node's.
func (c *Counter) Today(ctx context.Context, ns string) ([]Model, error) {
	c.Flush(ctx)
	days, err := c.st.ListUsageDay(ctx, DayOf(time.Now()), ns)
	if err != nil {
		return nil, err
	}
	return Sum(days), nil
}

// TodayAll is Today for every namespace with calls today, in one read.
func (c *Counter) TodayAll(ctx context.Context) (map[string][]Model, error) {
	c.Flush(ctx)
	days, err := c.st.ListUsageDay(ctx, DayOf(time.Now()), "")
	if err != nil {
		return nil, err
	}
	by := map[string][]Day{}
	for _, d := range days {
		by[d.Namespace] = append(by[d.Namespace], d)
	}
	out := make(map[string][]Model, len(by))
	for ns, ds := range by {
		out[ns] = Sum(ds)
	}
	return out, nil
}

// Sum adds the nodes' days up, by model name.
func Sum(days []Day) []Model {
	by := map[string]*Model{}
	for _, d := range days {
		for name, m := range d.Models {
			s := by[name]
			if s == nil {
				s = &Model{Model: name}
				by[name] = s
			}
			s.add(*m)
		}
	}
	out := make([]Model, 0, len(by))
	for _, m := range by {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Model) int { return strings.Compare(a.Model, b.Model) })
	return out
}

// Total adds models up into one named "total".
func Total(models []Model) Model {
	t := Model{Model: "total"}
	for _, m := range models {
		t.add(m)
	}
	return t
}

func (m *Model) add(o Model) {
	m.Calls += o.Calls
	m.Errors += o.Errors
	m.InputTokens += o.InputTokens
	m.OutputTokens += o.OutputTokens
	m.EstimatedCalls += o.EstimatedCalls
}

func clone(d *Day) Day {
	out := *d
	out.Models = make(map[string]*Model, len(d.Models))
	for k, m := range d.Models {
		mm := *m
		out.Models[k] = &mm
	}
	return out
}
