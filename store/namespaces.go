package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func specKey(name string) string   { return specPrefix + name }
func statusKey(name string) string { return statusPrefix + name }

// hostKey normalizes lightly so a key written from an unvalidated spec is
// still found by a lookup of the same name in another case.
func hostKey(host string) string { return hostPrefix + normHost(host) }

func normHost(host string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
}

// hostSet returns the spec's distinct normalized hostnames in order; etcd
// refuses a txn that writes the same key twice.
func hostSet(hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		n := normHost(h)
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// checkName keeps names from escaping their key prefix.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("invalid namespace name %q", name)
	}
	return nil
}

// CreateNamespace stores a new namespace with its hostnames and a Pending
// status, all or nothing. It fails with ErrExists or *HostnameTakenError.
func (s *Store) CreateNamespace(ctx context.Context, spec namespace.Spec) error {
	_, err := s.createNamespace(ctx, spec, nil)
	return err
}

// createNamespace is CreateNamespace with extra guards; guarded reports
// that only they failed (the caller may read again and retry).
func (s *Store) createNamespace(ctx context.Context, spec namespace.Spec, guards []clientv3.Cmp) (guarded bool, err error) {
	name := spec.Name
	if err := checkName(name); err != nil {
		return false, fmt.Errorf("creating namespace: %w", err)
	}
	now := time.Now().UTC()
	if spec.CreatedAt.IsZero() {
		spec.CreatedAt = now
	}
	specData, err := json.Marshal(spec)
	if err != nil {
		return false, fmt.Errorf("creating namespace %s: encoding spec: %w", name, err)
	}
	statusData, err := json.Marshal(namespace.Status{Phase: namespace.PhasePending, Since: now})
	if err != nil {
		return false, fmt.Errorf("creating namespace %s: encoding status: %w", name, err)
	}

	hosts := hostSet(spec.Hostnames)
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(specKey(name)), "=", 0)}, guards...)
	thenOps := []clientv3.Op{clientv3.OpPut(specKey(name), string(specData))}
	// The else branch reads the guarded keys in the same revision as the
	// failed compare, so it tells exactly which guard failed.
	elseOps := []clientv3.Op{clientv3.OpGet(specKey(name))}
	for _, h := range hosts {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(hostKey(h)), "=", 0))
		thenOps = append(thenOps, clientv3.OpPut(hostKey(h), name))
		elseOps = append(elseOps, clientv3.OpGet(hostKey(h)))
	}
	thenOps = append(thenOps, clientv3.OpPut(statusKey(name), string(statusData)))

	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(thenOps...).Else(elseOps...).Commit()
	if err != nil {
		return false, fmt.Errorf("creating namespace %s: %w", name, err)
	}
	if resp.Succeeded {
		return false, nil
	}
	if len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
		return false, fmt.Errorf("creating namespace %s: namespace %w", name, ErrExists)
	}
	for i, h := range hosts {
		if kvs := resp.Responses[1+i].GetResponseRange().Kvs; len(kvs) > 0 {
			return false, fmt.Errorf("creating namespace %s: %w", name, &HostnameTakenError{Hostname: h, Owner: string(kvs[0].Value)})
		}
	}
	if len(guards) > 0 {
		return true, fmt.Errorf("creating namespace %s: what it was placed by changed", name)
	}
	return false, fmt.Errorf("creating namespace %s: transaction refused for no visible reason", name)
}

// GetNamespace returns a namespace's spec and status, read at one revision.
func (s *Store) GetNamespace(ctx context.Context, name string) (namespace.Namespace, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(specKey(name)), clientv3.OpGet(statusKey(name))).Commit()
	if err != nil {
		return namespace.Namespace{}, fmt.Errorf("getting namespace %s: %w", name, err)
	}
	specKvs := resp.Responses[0].GetResponseRange().Kvs
	if len(specKvs) == 0 {
		return namespace.Namespace{}, fmt.Errorf("getting namespace %s: namespace %w", name, ErrNotFound)
	}
	var statusKv *mvccpb.KeyValue
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
		statusKv = kvs[0]
	}
	ns, err := decodeNamespace(specKvs[0].Value, statusKv)
	if err != nil {
		return namespace.Namespace{}, fmt.Errorf("getting namespace %s: %w", name, err)
	}
	return ns, nil
}

// ListNamespaces returns every namespace sorted by name.
func (s *Store) ListNamespaces(ctx context.Context) ([]namespace.Namespace, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, nsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	c := newNSCache()
	for _, kv := range resp.Kvs {
		if err := c.load(kv); err != nil {
			return nil, fmt.Errorf("listing namespaces: %w", err)
		}
	}
	return c.snapshot(), nil
}

// UpdateSpec applies fn to the current spec and stores the result if nobody
// wrote the spec in between, retrying otherwise; fn may run several times.
// Hostname keys follow the spec's hostnames in the same txn.
func (s *Store) UpdateSpec(ctx context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	for {
		resp, err := s.cli.Get(ctx, specKey(name))
		if err != nil {
			return namespace.Spec{}, fmt.Errorf("updating namespace %s: %w", name, err)
		}
		if len(resp.Kvs) == 0 {
			return namespace.Spec{}, fmt.Errorf("updating namespace %s: namespace %w", name, ErrNotFound)
		}
		kv := resp.Kvs[0]
		var old, next namespace.Spec
		if err := json.Unmarshal(kv.Value, &old); err != nil {
			return namespace.Spec{}, fmt.Errorf("updating namespace %s: decoding spec: %w", name, err)
		}
		// Decode twice so fn cannot alias old's slices.
		_ = json.Unmarshal(kv.Value, &next)
		if err := fn(&next); err != nil {
			return namespace.Spec{}, fmt.Errorf("updating namespace %s: %w", name, err)
		}
		if next.Name != name {
			return namespace.Spec{}, fmt.Errorf("updating namespace %s: the name cannot change (to %q)", name, next.Name)
		}
		data, err := json.Marshal(next)
		if err != nil {
			return namespace.Spec{}, fmt.Errorf("updating namespace %s: encoding spec: %w", name, err)
		}
		if bytes.Equal(data, kv.Value) {
			// Nothing changed: writing would only wake every watcher.
			return next, nil
		}

		oldHosts, newHosts := hostSet(old.Hostnames), hostSet(next.Hostnames)
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(specKey(name)), "=", kv.ModRevision)}
		thenOps := []clientv3.Op{clientv3.OpPut(specKey(name), string(data))}
		elseOps := []clientv3.Op{clientv3.OpGet(specKey(name))}
		var added []string
		for _, h := range newHosts {
			if slices.Contains(oldHosts, h) {
				continue
			}
			added = append(added, h)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(hostKey(h)), "=", 0))
			thenOps = append(thenOps, clientv3.OpPut(hostKey(h), name))
			elseOps = append(elseOps, clientv3.OpGet(hostKey(h)))
		}
		for _, h := range oldHosts {
			if !slices.Contains(newHosts, h) {
				thenOps = append(thenOps, deleteOwnedHost(h, name))
			}
		}

		tr, err := s.cli.Txn(ctx).If(cmps...).Then(thenOps...).Else(elseOps...).Commit()
		if err != nil {
			return namespace.Spec{}, fmt.Errorf("updating namespace %s: %w", name, err)
		}
		if tr.Succeeded {
			return next, nil
		}
		cur := tr.Responses[0].GetResponseRange().Kvs
		if len(cur) == 0 {
			return namespace.Spec{}, fmt.Errorf("updating namespace %s: namespace %w", name, ErrNotFound)
		}
		if cur[0].ModRevision != kv.ModRevision {
			continue // lost the race: apply fn again to the newer spec
		}
		for i, h := range added {
			if kvs := tr.Responses[1+i].GetResponseRange().Kvs; len(kvs) > 0 {
				return namespace.Spec{}, fmt.Errorf("updating namespace %s: %w", name, &HostnameTakenError{Hostname: h, Owner: string(kvs[0].Value)})
			}
		}
		// A guarded hostname was freed again in between; just retry.
	}
}

// deleteOwnedHost deletes a hostname key only if it still names this
// namespace, so a stale spec can never release another tenant's hostname.
func deleteOwnedHost(host, name string) clientv3.Op {
	k := hostKey(host)
	return clientv3.OpTxn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.Value(k), "=", name)},
		[]clientv3.Op{clientv3.OpDelete(k)},
		nil,
	)
}

// PutStatus writes a namespace's observed status. It fails with ErrNotFound
// once the spec is gone, so a late status write cannot resurrect a deleted
// namespace.
func (s *Store) PutStatus(ctx context.Context, name string, st namespace.Status) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("writing status of namespace %s: encoding: %w", name, err)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(specKey(name)), ">", 0)).
		Then(clientv3.OpPut(statusKey(name), string(data))).
		Commit()
	if err != nil {
		return fmt.Errorf("writing status of namespace %s: %w", name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("writing status of namespace %s: namespace %w", name, ErrNotFound)
	}
	return nil
}

// DeleteNamespace removes a namespace's spec, status, hostnames and API
// keys in one txn (a namespace with very many keys first loses all but the
// last few in earlier txns).
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	for {
		resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(specKey(name)), clientv3.OpGet(apikeyPrefix, clientv3.WithPrefix())).Commit()
		if err != nil {
			return fmt.Errorf("deleting namespace %s: %w", name, err)
		}
		specKvs := resp.Responses[0].GetResponseRange().Kvs
		if len(specKvs) == 0 {
			return fmt.Errorf("deleting namespace %s: namespace %w", name, ErrNotFound)
		}
		kv := specKvs[0]
		keys := s.namespaceKeys(resp.Responses[1].GetResponseRange().Kvs, name)
		if len(keys) > maxKeysPerTxn {
			if _, err := s.cli.Txn(ctx).Then(deleteAPIKeyOps(keys[:maxKeysPerTxn])...).Commit(); err != nil {
				return fmt.Errorf("deleting namespace %s: deleting its API keys: %w", name, err)
			}
			continue
		}
		var spec namespace.Spec
		if err := json.Unmarshal(kv.Value, &spec); err != nil {
			// A spec we cannot read must still be deletable; its hostname
			// keys are then left for an operator.
			s.log.Warn("deleting undecodable spec; its hostname keys stay", "namespace", name, "error", err)
		}
		ops := []clientv3.Op{clientv3.OpDelete(specKey(name)), clientv3.OpDelete(statusKey(name)), clientv3.OpDelete(loginKey(name))}
		for _, h := range hostSet(spec.Hostnames) {
			ops = append(ops, deleteOwnedHost(h, name))
		}
		ops = append(ops, deleteAPIKeyOps(keys)...)
		// The guards make sure the hostnames deleted are those of the spec
		// being deleted, not of one an UpdateSpec replaced meanwhile, and
		// that no key was created since the keys were read.
		tr, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(specKey(name)), "=", kv.ModRevision), noKeysCreatedSince(resp.Header.Revision)).
			Then(ops...).
			Commit()
		if err != nil {
			return fmt.Errorf("deleting namespace %s: %w", name, err)
		}
		if tr.Succeeded {
			return nil
		}
	}
}

// LookupHostname returns the namespace that owns host.
func (s *Store) LookupHostname(ctx context.Context, host string) (string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, hostKey(host))
	if err != nil {
		return "", fmt.Errorf("looking up hostname %s: %w", host, err)
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("looking up hostname %s: hostname %w", host, ErrNotFound)
	}
	return string(resp.Kvs[0].Value), nil
}

// decodeNamespace merges a spec with its status; a missing status reads as
// Pending since the spec's creation.
func decodeNamespace(specData []byte, statusKv *mvccpb.KeyValue) (namespace.Namespace, error) {
	var ns namespace.Namespace
	if err := json.Unmarshal(specData, &ns.Spec); err != nil {
		return ns, fmt.Errorf("decoding spec: %w", err)
	}
	if statusKv == nil {
		ns.Status = defaultStatus(ns.Spec)
		return ns, nil
	}
	if err := json.Unmarshal(statusKv.Value, &ns.Status); err != nil {
		return ns, fmt.Errorf("decoding status: %w", err)
	}
	return ns, nil
}

func defaultStatus(spec namespace.Spec) namespace.Status {
	return namespace.Status{Phase: namespace.PhasePending, Since: spec.CreatedAt}
}

// nsCache holds decoded specs and statuses by name; it backs both
// ListNamespaces and the watcher's merged events.
type nsCache struct {
	specs    map[string]namespace.Spec
	statuses map[string]namespace.Status
}

func newNSCache() *nsCache {
	return &nsCache{specs: map[string]namespace.Spec{}, statuses: map[string]namespace.Status{}}
}

// load adds one key of the ns prefix. Statuses are kept even without a
// spec here because a listing is unordered between the two prefixes;
// snapshot only reports namespaces that have a spec.
func (c *nsCache) load(kv *mvccpb.KeyValue) error {
	k := string(kv.Key)
	switch {
	case strings.HasPrefix(k, specPrefix):
		var sp namespace.Spec
		if err := json.Unmarshal(kv.Value, &sp); err != nil {
			return fmt.Errorf("decoding spec %s: %w", k, err)
		}
		c.specs[strings.TrimPrefix(k, specPrefix)] = sp
	case strings.HasPrefix(k, statusPrefix):
		var st namespace.Status
		if err := json.Unmarshal(kv.Value, &st); err != nil {
			return fmt.Errorf("decoding status %s: %w", k, err)
		}
		c.statuses[strings.TrimPrefix(k, statusPrefix)] = st
	}
	return nil
}

func (c *nsCache) get(name string) (namespace.Namespace, bool) {
	sp, ok := c.specs[name]
	if !ok {
		return namespace.Namespace{}, false
	}
	st, ok := c.statuses[name]
	if !ok {
		st = defaultStatus(sp)
	}
	return namespace.Namespace{Spec: sp, Status: st}, true
}

func (c *nsCache) snapshot() []namespace.Namespace {
	names := make([]string, 0, len(c.specs))
	for name := range c.specs {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]namespace.Namespace, 0, len(names))
	for _, name := range names {
		ns, _ := c.get(name)
		out = append(out, ns)
	}
	return out
}
