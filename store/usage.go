package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/clawd-dev/clawd/usage"
)

// usageKey is one node's count of one namespace's calls on one day; the
// day comes first so a day's counts (and old days' removal) are one prefix.
func usageKey(day, ns, node string) string { return usagePrefix + day + "/" + ns + "/" + node }

// PutUsageDay writes one node's count for a namespace and day.
func (s *Store) PutUsageDay(ctx context.Context, d usage.Day) error {
	if strings.ContainsAny(d.Day+d.Namespace+d.Node, "/\x00") {
		return fmt.Errorf("writing usage: invalid day %q, namespace %q or node %q", d.Day, d.Namespace, d.Node)
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("writing usage: %w", err)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if _, err := s.cli.Put(ctx, usageKey(d.Day, d.Namespace, d.Node), string(data)); err != nil {
		return fmt.Errorf("writing usage of %s on %s: %w", d.Namespace, d.Day, err)
	}
	return nil
}

// ListUsageDay returns every node's count for a namespace and day, or for
// every namespace when ns is "".
func (s *Store) ListUsageDay(ctx context.Context, day, ns string) ([]usage.Day, error) {
	prefix := usagePrefix + day + "/"
	if ns != "" {
		prefix += ns + "/"
	}
	_, kvs, err := s.list(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("reading usage of %s on %s: %w", ns, day, err)
	}
	out := make([]usage.Day, 0, len(kvs))
	for _, kv := range kvs {
		var d usage.Day
		if err := json.Unmarshal(kv.Value, &d); err == nil {
			out = append(out, d)
		}
	}
	return out, nil
}
