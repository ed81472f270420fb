package store

import (
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/clawd-dev/clawd/auth"
)

// Logins are stored whole, one per namespace, their client secret already
// sealed by the caller; DeleteNamespace removes a namespace's login with it.

const loginPrefix = keyPrefix + "logins/"

var _ auth.Watcher = (*Store)(nil)

func loginKey(ns string) string { return loginPrefix + ns }

// PutLogin stores a namespace's login, replacing any; ErrNotFound if the
// namespace does not exist.
func (s *Store) PutLogin(ctx context.Context, l auth.Login) error {
	data, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("storing login of namespace %s: %w", l.Namespace, err)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(specKey(l.Namespace)), ">", 0)).
		Then(clientv3.OpPut(loginKey(l.Namespace), string(data))).
		Commit()
	if err != nil {
		return fmt.Errorf("storing login of namespace %s: %w", l.Namespace, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("storing login of namespace %s: namespace %w", l.Namespace, ErrNotFound)
	}
	return nil
}

// GetLogin returns a namespace's login, or ErrNotFound.
func (s *Store) GetLogin(ctx context.Context, ns string) (auth.Login, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, loginKey(ns))
	if err != nil {
		return auth.Login{}, fmt.Errorf("reading login of namespace %s: %w", ns, err)
	}
	if len(resp.Kvs) == 0 {
		return auth.Login{}, fmt.Errorf("namespace %s has no login: %w", ns, ErrNotFound)
	}
	var l auth.Login
	if err := json.Unmarshal(resp.Kvs[0].Value, &l); err != nil {
		return auth.Login{}, fmt.Errorf("decoding login of namespace %s: %w", ns, err)
	}
	return l, nil
}

// DeleteLogin removes a namespace's login, or returns ErrNotFound.
func (s *Store) DeleteLogin(ctx context.Context, ns string) error {
	return s.deleteOne(ctx, loginKey(ns), "removing login of namespace "+ns, fmt.Sprintf("namespace %s has no login:", ns))
}

// WatchLogins sends every login now and after every change until ctx
// ends; a slow reader gets only the latest list.
func (s *Store) WatchLogins(ctx context.Context) <-chan []auth.Login {
	return watchList(ctx, s, loginPrefix, "watch_logins", decodeLogins)
}

// decodeLogins is the logins in kvs by namespace.
func decodeLogins(kvs []*mvccpb.KeyValue) []auth.Login {
	return decodeSorted(kvs, func(l auth.Login) string { return l.Namespace })
}
