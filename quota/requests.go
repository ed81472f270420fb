package quota

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// RequestCount is one node's count of one namespace's requests in one UTC
// hour, as the store keeps it.
type RequestCount struct {
	Hour      string `json:"hour"` // HourOf
	Namespace string `json:"namespace"`
	Node      string `json:"node"`
	Count     int64  `json:"count"`
}

// RequestStore keeps each node's request counts, one key per hour,
// namespace and node, so nodes never contend.
type RequestStore interface {
	PutRequestCount(ctx context.Context, c RequestCount) error
	// ListRequestCounts returns every node's counts in hour, of namespace
	// ns, or of every namespace when ns is "".
	ListRequestCounts(ctx context.Context, hour, ns string) ([]RequestCount, error)
	// PruneRequestCounts removes the counts of hours before hour.
	PruneRequestCounts(ctx context.Context, before string) error
}

// HourOf is the UTC hour t falls in, as the store names it.
func HourOf(t time.Time) string { return t.UTC().Format("2006-01-02T15") }

type hourKey struct {
	hour int64 // Unix hours
	ns   string
}

// hourCount is one namespace's requests in one hour.
type hourCount struct {
	mine    int64 // admitted on this node (with what it counted before a restart)
	written int64 // mine as last written to the store
	others  int64 // the other nodes' counts, as last read
	// limited: the namespace had a limit when last admitted; only then are
	// its counts written and the other nodes' read.
	limited bool
}

// Requests counts requests per namespace and fixed UTC hour and refuses
// those past api.requestsPerHour. Counting is in memory, on the request
// path, and never waits on the store: each node writes its own counts of
// limited namespaces every few seconds (Run) and reads the other nodes'
// then. The cap is exact for the requests one node admits; across nodes it
// may be passed by what the others admitted since their last write.
type Requests struct {
	node  string
	st    RequestStore
	log   hclog.Logger
	rejec *prometheus.CounterVec

	mu     sync.Mutex
	counts map[hourKey]*hourCount
	// loaded: this node's earlier counts of the current hour (before a
	// restart) are in; until then requests are admitted as if none.
	loaded bool
	// pruned is the hour whose predecessors were last removed.
	pruned int64
}

// NewRequests returns a request counter for node. rejections is
// clawd_quota_rejections_total (Enforcer.Rejections); nil makes one that
// is not registered.
func NewRequests(node string, st RequestStore, rejections *prometheus.CounterVec, log hclog.Logger) *Requests {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if rejections == nil {
		rejections = newRejections()
	}
	return &Requests{node: node, st: st, log: log, rejec: rejections, counts: map[hourKey]*hourCount{}}
}

// Admit counts one request of namespace ns at now, or refuses it (and
// counts nothing) when the namespace's hour is used up: limit requests,
// 0 for no limit. The caller knows the limit (the router's table holds
// each namespace's spec), so the request path reads no other table.
func (q *Requests) Admit(ns string, limit int64, now time.Time) *Refusal {
	hour := now.Unix() / 3600
	k := hourKey{hour, ns}
	q.mu.Lock()
	c := q.counts[k]
	if c == nil {
		c = &hourCount{}
		q.counts[k] = c
	}
	c.limited = limit > 0
	if limit > 0 && c.mine+c.others >= limit {
		q.mu.Unlock()
		q.rejec.WithLabelValues(ns, RequestsPerHour).Inc()
		return &Refusal{Quota: RequestsPerHour, Limit: limit, Reset: time.Unix((hour+1)*3600, 0).UTC()}
	}
	c.mine++
	q.mu.Unlock()
	return nil
}

// Used is namespace ns's requests in the UTC hour of now on every node:
// this node's exact, the others' as they last wrote them (read now).
func (q *Requests) Used(ctx context.Context, ns string, now time.Time) (int64, error) {
	counts, err := q.st.ListRequestCounts(ctx, HourOf(now), ns)
	if err != nil {
		return 0, err
	}
	return q.sum(counts, now)[ns], nil
}

// UsedAll is Used for every namespace with requests in the hour, in one read.
func (q *Requests) UsedAll(ctx context.Context, now time.Time) (map[string]int64, error) {
	counts, err := q.st.ListRequestCounts(ctx, HourOf(now), "")
	if err != nil {
		return nil, err
	}
	return q.sum(counts, now), nil
}

// sum adds the hour's stored counts up by namespace, with this node's own
// count taken from memory where it is ahead of what it last wrote (and from
// the store before its first flush after a restart).
func (q *Requests) sum(counts []RequestCount, now time.Time) map[string]int64 {
	hour := now.Unix() / 3600
	out := map[string]int64{}
	mine := map[string]int64{}
	for _, rc := range counts {
		if rc.Node == q.node {
			mine[rc.Namespace] = rc.Count
			continue
		}
		out[rc.Namespace] += rc.Count
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, c := range q.counts {
		if k.hour == hour {
			mine[k.ns] = max(mine[k.ns], c.mine)
		}
	}
	for ns, n := range mine {
		out[ns] += n
	}
	return out
}

// Forget drops a deleted namespace's counts (the store's go with their hour).
func (q *Requests) Forget(ns string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k := range q.counts {
		if k.ns == ns {
			delete(q.counts, k)
		}
	}
}

// Run writes this node's counts and reads the other nodes' every interval
// until ctx ends, then writes once more.
func (q *Requests) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		q.Sync(ctx, time.Now())
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			q.flush(fctx)
			cancel()
			return
		case <-t.C:
		}
	}
}

// Sync does one pass of Run: it loads what this node counted in the hour
// of now before a restart (once), writes this node's changed counts of
// limited namespaces, reads the other nodes' counts, and drops hours
// that have ended.
func (q *Requests) Sync(ctx context.Context, now time.Time) {
	hour := now.Unix() / 3600
	q.mu.Lock()
	loaded := q.loaded
	q.mu.Unlock()
	if !loaded {
		if err := q.load(ctx, now); err != nil {
			q.log.Warn("reading this node's earlier request counts failed; will retry", "error", err)
		}
	}
	q.flush(ctx)
	q.prune(ctx, hour)
	q.mu.Lock()
	for k, c := range q.counts {
		if k.hour < hour && (c.written == c.mine || !c.limited) {
			delete(q.counts, k) // written for good, or never to be
		}
	}
	q.mu.Unlock()
	// One read of the hour's counts: only limited namespaces are written,
	// so it holds what matters, including namespaces this node has not
	// served yet this hour.
	all, err := q.st.ListRequestCounts(ctx, HourOf(now), "")
	if err != nil {
		q.log.Warn("reading other nodes' request counts failed; will retry", "error", err)
		return
	}
	others := map[string]int64{}
	for _, rc := range all {
		if rc.Node != q.node {
			others[rc.Namespace] += rc.Count
		}
	}
	q.mu.Lock()
	for k, c := range q.counts {
		if k.hour == hour {
			c.others = others[k.ns]
			delete(others, k.ns)
		}
	}
	for ns, n := range others {
		q.counts[hourKey{hour, ns}] = &hourCount{others: n, limited: true}
	}
	q.mu.Unlock()
}

// load adds what this node counted in the hour of now before a restart,
// and what the others counted, to the counts.
func (q *Requests) load(ctx context.Context, now time.Time) error {
	all, err := q.st.ListRequestCounts(ctx, HourOf(now), "")
	if err != nil {
		return err
	}
	hour := now.Unix() / 3600
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.loaded {
		return nil
	}
	for _, rc := range all {
		k := hourKey{hour, rc.Namespace}
		c := q.counts[k]
		if c == nil {
			c = &hourCount{}
			q.counts[k] = c
		}
		if rc.Node == q.node {
			c.mine += rc.Count
		} else {
			c.others += rc.Count
		}
	}
	q.loaded = true
	return nil
}

// Flush writes this node's changed counts now: at shutdown, before the
// store closes, so a restart picks them up.
func (q *Requests) Flush(ctx context.Context) { q.flush(ctx) }

// flush writes every changed count of a limited namespace.
func (q *Requests) flush(ctx context.Context) {
	type todo struct {
		k    hourKey
		mine int64
	}
	var work []todo
	q.mu.Lock()
	if !q.loaded {
		// Writing before the earlier counts are in would lose them.
		q.mu.Unlock()
		return
	}
	for k, c := range q.counts {
		if c.limited && c.mine != c.written {
			work = append(work, todo{k, c.mine})
		}
	}
	q.mu.Unlock()
	slices.SortFunc(work, func(a, b todo) int { return int(a.k.hour - b.k.hour) })
	for _, w := range work {
		h := time.Unix(w.k.hour*3600, 0)
		if err := q.st.PutRequestCount(ctx, RequestCount{Hour: HourOf(h), Namespace: w.k.ns, Node: q.node, Count: w.mine}); err != nil {
			q.log.Warn("writing request counts failed; will retry", "namespace", w.k.ns, "error", err)
			continue
		}
		q.mu.Lock()
		if c := q.counts[w.k]; c != nil {
			c.written = w.mine
		}
		q.mu.Unlock()
	}
}

// prune removes, once an hour, the counts of hours before the last one:
// they are no one's window any more.
func (q *Requests) prune(ctx context.Context, hour int64) {
	q.mu.Lock()
	done := q.pruned == hour
	q.mu.Unlock()
	if done {
		return
	}
	if err := q.st.PruneRequestCounts(ctx, HourOf(time.Unix((hour-1)*3600, 0))); err != nil {
		q.log.Warn("pruning old request counts failed; will retry", "error", err)
		return
	}
	q.mu.Lock()
	q.pruned = hour
	q.mu.Unlock()
}

func newRejections() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "clawd", Name: "quota_rejections_total",
		Help: "Requests and model calls refused for being over a quota.",
	}, []string{"namespace", "quota"})
}
