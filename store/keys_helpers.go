package store

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchList sends decode of every key under prefix now and after every
// change until ctx ends; a slow reader gets only the latest value. name
// names the watch in the log.
func watchList[T any](ctx context.Context, s *Store, prefix, name string, decode func([]*mvccpb.KeyValue) T) <-chan T {
	out := newLatest[T]()
	log := s.log.Named(name)
	go func() {
		defer close(out.ch)
		cur := map[string]*mvccpb.KeyValue{}
		publish := func() bool {
			kvs := make([]*mvccpb.KeyValue, 0, len(cur))
			for _, kv := range cur {
				kvs = append(kvs, kv)
			}
			return out.publish(ctx, decode(kvs))
		}
		s.follow(ctx, prefix, log,
			func(kvs []*mvccpb.KeyValue) bool {
				clear(cur)
				for _, kv := range kvs {
					cur[string(kv.Key)] = kv
				}
				return publish()
			},
			func(evs []*clientv3.Event) bool {
				for _, ev := range evs {
					if ev.Type == clientv3.EventTypeDelete {
						delete(cur, string(ev.Kv.Key))
					} else {
						cur[string(ev.Kv.Key)] = ev.Kv
					}
				}
				return publish()
			})
	}()
	return out.ch
}

// deleteOne removes key. A store error is wrapped as "doing: err"; a key
// that was not there is "missing ErrNotFound" ("… not found").
func (s *Store) deleteOne(ctx context.Context, key, doing, missing string) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Delete(ctx, key)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("%s %w", missing, ErrNotFound)
	}
	return nil
}
