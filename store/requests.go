package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/clawd-dev/clawd/quota"
)

var _ quota.RequestStore = (*Store)(nil)

// requestKey is one node's count of one namespace's requests in one UTC
// hour; the hour comes first so an hour's counts (and old hours' removal)
// are one prefix.
func requestKey(hour, ns, node string) string {
	return requestsPrefix + hour + "/" + ns + "/" + node
}

// PutRequestCount writes one node's count for a namespace and hour.
func (s *Store) PutRequestCount(ctx context.Context, c quota.RequestCount) error {
	if c.Hour == "" || c.Namespace == "" || c.Node == "" || strings.ContainsAny(c.Hour+c.Namespace+c.Node, "/\x00") {
		return fmt.Errorf("writing request count: invalid hour %q, namespace %q or node %q", c.Hour, c.Namespace, c.Node)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if _, err := s.cli.Put(ctx, requestKey(c.Hour, c.Namespace, c.Node), strconv.FormatInt(c.Count, 10)); err != nil {
		return fmt.Errorf("writing request count of %s in %s: %w", c.Namespace, c.Hour, err)
	}
	return nil
}

// ListRequestCounts returns every node's counts in hour, of namespace ns
// or, when ns is "", of every namespace.
func (s *Store) ListRequestCounts(ctx context.Context, hour, ns string) ([]quota.RequestCount, error) {
	prefix := requestsPrefix + hour + "/"
	if ns != "" {
		prefix += ns + "/"
	}
	_, kvs, err := s.list(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("reading request counts of %s: %w", hour, err)
	}
	out := make([]quota.RequestCount, 0, len(kvs))
	for _, kv := range kvs {
		parts := strings.Split(strings.TrimPrefix(string(kv.Key), requestsPrefix), "/")
		n, err := strconv.ParseInt(string(kv.Value), 10, 64)
		if len(parts) != 3 || err != nil {
			continue
		}
		out = append(out, quota.RequestCount{Hour: parts[0], Namespace: parts[1], Node: parts[2], Count: n})
	}
	return out, nil
}

// PruneRequestCounts removes the counts of hours before the given one.
func (s *Store) PruneRequestCounts(ctx context.Context, before string) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if _, err := s.cli.Delete(ctx, requestsPrefix, clientv3.WithRange(requestsPrefix+before)); err != nil {
		return fmt.Errorf("removing request counts before %s: %w", before, err)
	}
	return nil
}
