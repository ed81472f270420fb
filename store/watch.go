package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/hashicorp/go-hclog"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	watchBackoffMin = 100 * time.Millisecond
	watchBackoffMax = 10 * time.Second
	// eventBuffer lets the watcher run a little ahead of its consumer.
	eventBuffer = 64
)

// EventType says what a namespace Event reports.
type EventType int

// Event types.
const (
	// EventReset carries the full list; consumers replace their state with it.
	EventReset EventType = iota
	// EventPut carries a namespace created or changed.
	EventPut
	// EventDelete names a namespace that is gone.
	EventDelete
)

// String returns the type's name for logs.
func (t EventType) String() string {
	switch t {
	case EventReset:
		return "reset"
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change to the set of namespaces.
type Event struct {
	Type EventType
	// Name is set for Put and Delete.
	Name string
	// Namespace is the merged spec and status after a Put.
	Namespace namespace.Namespace
	// Snapshot is every namespace, sorted by name, for a Reset.
	Snapshot []namespace.Namespace
}

// WatchNamespaces streams namespace changes until ctx ends, then closes the
// channel. The first event is a Reset; another Reset follows whenever the
// watch had to be re-established, since changes may have been missed.
func (s *Store) WatchNamespaces(ctx context.Context) <-chan Event {
	ch := make(chan Event, eventBuffer)
	log := s.log.Named("watch_namespaces")
	go func() {
		defer close(ch)
		send := func(ev Event) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		var cache *nsCache
		s.follow(ctx, nsPrefix, log,
			func(kvs []*mvccpb.KeyValue) bool {
				cache = newNSCache()
				for _, kv := range kvs {
					if err := cache.load(kv); err != nil {
						log.Error("skipping undecodable key", "error", err)
					}
				}
				return send(Event{Type: EventReset, Snapshot: cache.snapshot()})
			},
			func(evs []*clientv3.Event) bool {
				for _, ev := range applyNSEvents(cache, evs, log) {
					if !send(ev) {
						return false
					}
				}
				return true
			})
	}()
	return ch
}

// applyNSEvents updates the cache with one watch response and returns one
// event per namespace touched in each revision, so a txn that writes a spec
// and its status is seen as a single change.
func applyNSEvents(c *nsCache, evs []*clientv3.Event, log hclog.Logger) []Event {
	var out []Event
	for start := 0; start < len(evs); {
		end := start
		for end < len(evs) && evs[end].Kv.ModRevision == evs[start].Kv.ModRevision {
			end++
		}
		out = append(out, applyRevision(c, evs[start:end], log)...)
		start = end
	}
	return out
}

func applyRevision(c *nsCache, evs []*clientv3.Event, log hclog.Logger) []Event {
	var touched []string
	existed := map[string]bool{}
	touch := func(name string) {
		if _, seen := existed[name]; !seen {
			_, existed[name] = c.specs[name]
			touched = append(touched, name)
		}
	}
	// Specs first: a status is only kept for a known spec, and within one
	// txn the order of the two keys must not matter.
	for _, ev := range evs {
		name, ok := strings.CutPrefix(string(ev.Kv.Key), specPrefix)
		if !ok {
			continue
		}
		touch(name)
		if ev.Type == clientv3.EventTypeDelete {
			delete(c.specs, name)
			delete(c.statuses, name)
			continue
		}
		var sp namespace.Spec
		if err := json.Unmarshal(ev.Kv.Value, &sp); err != nil {
			log.Error("ignoring undecodable spec", "namespace", name, "error", err)
			continue
		}
		c.specs[name] = sp
	}
	for _, ev := range evs {
		name, ok := strings.CutPrefix(string(ev.Kv.Key), statusPrefix)
		if !ok {
			continue
		}
		if _, ok := c.specs[name]; !ok {
			continue // the spec is gone: a status alone is not a namespace
		}
		touch(name)
		if ev.Type == clientv3.EventTypeDelete {
			delete(c.statuses, name)
			continue
		}
		var st namespace.Status
		if err := json.Unmarshal(ev.Kv.Value, &st); err != nil {
			log.Error("ignoring undecodable status", "namespace", name, "error", err)
			continue
		}
		c.statuses[name] = st
	}

	var out []Event
	for _, name := range touched {
		if ns, ok := c.get(name); ok {
			out = append(out, Event{Type: EventPut, Name: name, Namespace: ns})
		} else if existed[name] {
			out = append(out, Event{Type: EventDelete, Name: name})
		}
	}
	return out
}

// follow lists prefix, hands the listing to reset, then watches from the
// listing's revision+1 and hands each batch of events to apply. When the
// watch is compacted past or breaks it lists again, so reset runs again.
// It returns when ctx ends or a callback returns false.
func (s *Store) follow(ctx context.Context, prefix string, log hclog.Logger,
	reset func([]*mvccpb.KeyValue) bool, apply func([]*clientv3.Event) bool) {
	backoff := watchBackoffMin
	for ctx.Err() == nil {
		rev, kvs, err := s.list(ctx, prefix)
		if err != nil {
			log.Warn("listing failed; retrying", "prefix", prefix, "backoff", backoff, "error", err)
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = nextBackoff(backoff, watchBackoffMax)
			continue
		}
		if !reset(kvs) {
			return
		}
		healthy, err := s.watchFrom(ctx, prefix, rev+1, apply)
		if ctx.Err() != nil || err == nil {
			return
		}
		if healthy {
			backoff = watchBackoffMin
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			// Normal after a long disconnect: relist at once.
			log.Debug("watch compacted; relisting", "prefix", prefix, "error", err)
			continue
		}
		log.Warn("watch broken; relisting", "prefix", prefix, "backoff", backoff, "error", err)
		if !sleepCtx(ctx, backoff) {
			return
		}
		backoff = nextBackoff(backoff, watchBackoffMax)
	}
}

// list reads prefix and the revision it was read at.
func (s *Store) list(ctx context.Context, prefix string) (int64, []*mvccpb.KeyValue, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, nil, fmt.Errorf("listing %s: %w", prefix, err)
	}
	return resp.Header.Revision, resp.Kvs, nil
}

// watchFrom runs one watch. It returns a nil error only when apply asked to
// stop; healthy says whether any events arrived before the watch failed.
func (s *Store) watchFrom(ctx context.Context, prefix string, rev int64, apply func([]*clientv3.Event) bool) (healthy bool, err error) {
	// The watch is a stream, so it has no deadline; WithRequireLeader makes
	// it fail instead of going silent when this member loses its leader.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev)) {
		if err := resp.Err(); err != nil {
			return healthy, fmt.Errorf("watching %s from revision %d: %w", prefix, rev, err)
		}
		if len(resp.Events) == 0 {
			continue
		}
		healthy = true
		if !apply(resp.Events) {
			return healthy, nil
		}
		rev = resp.Header.Revision + 1
	}
	if err := ctx.Err(); err != nil {
		return healthy, err
	}
	return healthy, fmt.Errorf("watching %s from revision %d: watch channel closed", prefix, rev)
}
