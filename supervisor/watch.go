package supervisor

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// Watches: the store, the dynamic config, model providers and the
// runtime's events only queue namespaces; the periodic resync queues all.

func (s *Supervisor) watchStore(ctx context.Context) {
	once := sync.Once{}
	for ev := range s.st.WatchNamespaces(ctx) {
		switch ev.Type {
		case store.EventReset:
			s.mu.Lock()
			s.known = map[string]namespace.Namespace{}
			for _, ns := range ev.Snapshot {
				s.known[ns.Spec.Name] = ns
			}
			s.mu.Unlock()
			for _, ns := range ev.Snapshot {
				s.q.add(ns.Spec.Name)
			}
			once.Do(func() { close(s.synced) })
		case store.EventPut:
			s.mu.Lock()
			old, had := s.known[ev.Name]
			s.known[ev.Name] = ev.Namespace
			s.mu.Unlock()
			// Our own status writes come back here; only spec changes need a pass.
			if !had || specChanged(old.Spec, ev.Namespace.Spec) {
				s.q.add(ev.Name)
			}
		case store.EventDelete:
			s.mu.Lock()
			delete(s.known, ev.Name)
			delete(s.tracks, ev.Name)
			s.mu.Unlock()
			s.released(ev.Name, "", true)
		}
	}
}

// watchConfig keeps the latest dynamic config and has every namespace
// reconciled when it changes: each pass re-renders its gateway's config
// and rewrites it only if the bytes differ, and OpenClaw hot-reloads it.
func (s *Supervisor) watchConfig(ctx context.Context, cw ConfigWatcher, first chan<- struct{}) {
	once := sync.Once{}
	for m := range cw.WatchConfig(ctx) {
		s.mu.Lock()
		s.values = m
		s.mu.Unlock()
		once.Do(func() { close(first) })
		s.enqueueAll()
	}
}

// watchModels has every gateway's config rendered again when providers
// change; OpenClaw applies models.* without a restart.
func (s *Supervisor) watchModels(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.Models.Changes():
			s.enqueueAll()
		}
	}
}

func specChanged(a, b namespace.Spec) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) != string(jb)
}

func (s *Supervisor) watchRuntime(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		events, errs := s.rt.Events(ctx)
	stream:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					break stream
				}
				backoff = time.Second
				if ev.Namespace != "" {
					s.q.add(ev.Namespace)
				}
			case err := <-errs:
				if ctx.Err() == nil {
					s.log.Warn("runtime event stream broke; resyncing", "error", err)
					// Perhaps the engine is restarting: gateways it stops
					// are not failing.
					s.engineDown(time.Now())
				}
				break stream
			case <-ctx.Done():
				return
			}
		}
		// Whatever happened while the stream was down is caught by a full pass.
		s.enqueueAll()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *Supervisor) resync(ctx context.Context) {
	t := time.NewTicker(s.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.enqueueAll()
		case <-ctx.Done():
			return
		}
	}
}

func (s *Supervisor) enqueueAll() {
	s.mu.Lock()
	names := make([]string, 0, len(s.known))
	for n := range s.known {
		names = append(names, n)
	}
	s.mu.Unlock()
	for _, n := range names {
		s.q.add(n)
	}
}
