// Package secretstest holds test fixtures for code that keeps sealed
// secrets: Records, the stored records secrets.Keeper and Box.Rotate read
// and rewrite, kept in memory. It imports nothing of clawd, so package
// secrets' own tests can use it too.
package secretstest

import (
	"context"
	"strings"
	"sync"
)

// Records is secrets.Records in memory: a record is its prefix and key
// joined, as the store keeps them.
type Records struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewRecords holds the records given (full key, prefix included).
func NewRecords(m map[string][]byte) *Records {
	r := &Records{m: map[string][]byte{}}
	for k, v := range m {
		r.m[k] = v
	}
	return r
}

// Get is the record under its full key; nil: none.
func (r *Records) Get(key string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

// ListRecords is every record under prefix, by its key without the prefix.
func (r *Records) ListRecords(_ context.Context, prefix string) (map[string][]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range r.m {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			out[rest] = v
		}
	}
	return out, nil
}

// UpdateRecord rewrites one record with fn, as one transaction: fn's
// error or nil answer leaves it as it was.
func (r *Records) UpdateRecord(_ context.Context, prefix, key string, fn func([]byte) ([]byte, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := fn(r.m[prefix+key])
	if err == nil && b != nil {
		r.m[prefix+key] = b
	}
	return err
}
