package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// eventBuffer absorbs bursts (a mass restart) without ever blocking the
// engine's stream; beyond it events are dropped, which the contract allows:
// they only wake a level-triggered loop.
const eventBuffer = 256

// Events streams this cluster's gateway container events until ctx ends.
// When the stream breaks, the error channel receives the cause and both
// channels close; when ctx ends they close without an error. The stream is
// the one Docker call without a deadline: it is meant to last.
func (r *Runtime) Events(ctx context.Context) (<-chan runtime.Event, <-chan error) {
	out := make(chan runtime.Event, eventBuffer)
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		defer close(out)
		filters := client.Filters{}.
			Add("type", string(events.ContainerEventType)).
			Add("label", r.clusterFilter()...)
		stream := r.api.Events(ctx, client.EventsListOptions{Filters: filters})
		dropped := 0
		for {
			select {
			case <-ctx.Done():
				return
			case err, ok := <-stream.Err:
				if ctx.Err() != nil {
					return
				}
				if !ok || err == nil {
					err = errors.New("docker event stream ended")
				}
				errc <- fmt.Errorf("watching docker events: %w", err)
				return
			case m := <-stream.Messages:
				ev, ok := r.eventFromMessage(m)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				default:
					dropped++
					if dropped == 1 || dropped%100 == 0 {
						r.log.Warn("event consumer is slow; dropping runtime events", "dropped", dropped)
					}
				}
			}
		}
	}()
	return out, errc
}

// eventFromMessage maps an engine event to the contract; chatty actions that
// change nothing the supervisor cares about (exec, attach, health checks…)
// are dropped. A warm-pool gateway's namespace comes from its name (the
// event's "name" attribute is the name after the event, so the rename that
// claims a spare already carries the namespace); a spare's events carry none.
func (r *Runtime) eventFromMessage(m events.Message) (runtime.Event, bool) {
	if !r.mine(m.Actor.Attributes) {
		return runtime.Event{}, false
	}
	var ns string
	switch m.Actor.Attributes[runtime.LabelRole] {
	case roleGateway:
		if ns = m.Actor.Attributes[runtime.LabelNamespace]; ns == "" {
			return runtime.Event{}, false
		}
	case roleSpare:
		ns = r.namespaceOf(m.Actor.Attributes["name"])
	default:
		return runtime.Event{}, false
	}
	kind := runtime.EventOther
	switch m.Action {
	case events.ActionStart:
		kind = runtime.EventStart
	case events.ActionDie:
		kind = runtime.EventDie
	case events.ActionOOM:
		kind = runtime.EventOOM
	case events.ActionPause:
		kind = runtime.EventPause
	case events.ActionUnPause:
		kind = runtime.EventUnpause
	case events.ActionDestroy:
		kind = runtime.EventDestroy
	case events.ActionCreate, events.ActionStop, events.ActionKill, events.ActionRestart,
		events.ActionRename, events.ActionUpdate:
	default:
		return runtime.Event{}, false
	}
	at := time.Unix(0, m.TimeNano)
	if m.TimeNano == 0 {
		at = time.Unix(m.Time, 0)
	}
	return runtime.Event{Namespace: ns, ContainerID: m.Actor.ID, Kind: kind, At: at}, true
}
