package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Records is where sealed secrets are kept (the store): JSON records under
// prefixes, rewritten one at a time, each only if unchanged since read
// (UpdateRecord retries fn on a concurrent change; fn returning nil
// leaves the record as it is).
type Records interface {
	ListRecords(ctx context.Context, prefix string) (map[string][]byte, error)
	UpdateRecord(ctx context.Context, prefix, key string, fn func(old []byte) ([]byte, error)) error
}

// Field locates sealed values: every record under Prefix is a JSON object
// whose string field JSON holds a value sealed with Context(key), key
// being the record's key after the prefix. JSON "" means the record is
// the sealed value itself (wrapped volume keys).
type Field struct {
	Kind    string // what the secrets are, for reports: "provider keys"
	Prefix  string
	JSON    string
	Context func(key string) string
}

// sealed finds the field's sealed value in a record ("" if it has none)
// and returns how to write a new one into it.
func (f Field) sealed(rec []byte) (string, func(string) ([]byte, error), error) {
	if f.JSON == "" {
		return string(rec), func(s string) ([]byte, error) { return []byte(s), nil }, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(rec, &obj); err != nil {
		return "", nil, fmt.Errorf("decoding: %w", err)
	}
	var s string
	if raw, ok := obj[f.JSON]; !ok || json.Unmarshal(raw, &s) != nil {
		return "", nil, nil
	}
	return s, func(out string) ([]byte, error) {
		obj[f.JSON], _ = json.Marshal(out)
		return json.Marshal(obj)
	}, nil
}

// Change is what a rewrap did to one value.
type Change string

// Changes a rewrap reports.
const (
	Unchanged Change = "unchanged" // already wrapped by the current version
	Rewrapped Change = "rewrapped" // data key wrapped again, ciphertext kept
	Upgraded  Change = "upgraded"  // a v1 value resealed as v2
	Resealed  Change = "resealed"  // wrapped by another source: sealed again under a new data key
)

// Rewrap brings one sealed value to the current key version: a v2 value
// of the current source has only its data key rewrapped (Vault: rewrap;
// file/env: unwrap and wrap locally), a v1 value or one of another source
// is opened and sealed again as v2 with the same algorithm.
func (b *Box) Rewrap(ctx context.Context, sealed, context string) (string, Change, error) {
	if strings.HasPrefix(sealed, prefixV1) {
		plain, err := b.OpenContext(ctx, sealed, context)
		if err != nil {
			return "", "", err
		}
		out, err := b.SealWith(ctx, AES256GCM, plain, context)
		return out, Upgraded, err
	}
	e, err := ParseEnvelope(sealed)
	if err != nil {
		return "", "", err
	}
	if e.Source != b.kek.Name() {
		plain, err := b.OpenContext(ctx, sealed, context)
		if err != nil {
			return "", "", err
		}
		out, err := b.SealWith(ctx, e.Algorithm, plain, context)
		return out, Resealed, err
	}
	cur, err := b.kek.Current(ctx)
	if err != nil {
		return "", "", err
	}
	if e.Version == cur {
		return sealed, Unchanged, nil
	}
	wrapped, ver, err := b.kek.Rewrap(ctx, e.WrappedDEK, e.Version)
	if err != nil {
		return "", "", err
	}
	if dek, ok := b.dek.get(e); ok {
		e.WrappedDEK, e.Version = wrapped, ver
		b.dek.put(e, dek)
	}
	e.WrappedDEK, e.Version = wrapped, ver
	return e.String(), Rewrapped, nil
}

// RotateReport is what `clawd secrets rotate` did.
type RotateReport struct {
	Source string `json:"source"`
	// Version is the key version every secret is now wrapped under.
	Version int `json:"version"`
	// NewVersion is true when the rotation made that version (key file).
	NewVersion bool              `json:"newVersion"`
	Counts     map[Change]int    `json:"counts"`
	Kinds      map[string]int    `json:"kinds"`
	Failed     map[string]string `json:"failed,omitempty"`
}

// Rotate makes a new KEK version when the key source can (the key file),
// then rewraps every sealed value the fields locate under the current
// version. Records are rewritten one by one; one that fails is reported
// and left as it was, the rest go on.
func (b *Box) Rotate(ctx context.Context, recs Records, fields []Field) (RotateReport, error) {
	rep := RotateReport{Source: b.kek.Name(), Counts: map[Change]int{}, Kinds: map[string]int{}}
	if r, ok := b.kek.(KeyRotator); ok && b.kek.Name() == SourceFile {
		v, err := r.RotateKey(ctx)
		if err != nil {
			return rep, err
		}
		rep.Version, rep.NewVersion = v, true
	} else {
		v, err := b.kek.Current(ctx)
		if err != nil {
			return rep, err
		}
		rep.Version = v
	}
	for _, f := range fields {
		list, err := recs.ListRecords(ctx, f.Prefix)
		if err != nil {
			return rep, err
		}
		keys := make([]string, 0, len(list))
		for k := range list {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var change Change
			err := recs.UpdateRecord(ctx, f.Prefix, k, func(old []byte) ([]byte, error) {
				change = ""
				sealed, put, err := f.sealed(old)
				if err != nil || sealed == "" {
					return nil, err // no secret in this record
				}
				out, c, err := b.Rewrap(ctx, sealed, f.Context(k))
				if err != nil {
					return nil, err
				}
				change = c
				if c == Unchanged {
					return nil, nil
				}
				return put(out)
			})
			if err != nil {
				if rep.Failed == nil {
					rep.Failed = map[string]string{}
				}
				rep.Failed[f.Prefix+k+"#"+f.JSON] = err.Error()
				continue
			}
			if change != "" {
				rep.Counts[change]++
			}
			if change != "" && change != Unchanged {
				rep.Kinds[f.Kind]++
			}
		}
	}
	return rep, nil
}

// Status is what `clawd secrets status` shows.
type Status struct {
	Source  string `json:"source"`
	Version int    `json:"version"`
	// Formats counts secrets by format: "v1", "v2/file/v2", "v2/vault/v3".
	Formats map[string]int `json:"formats"`
	// Kinds counts secrets by what they are.
	Kinds map[string]int `json:"kinds"`
	// Stale counts secrets not yet wrapped by the current source and
	// version: what a rotation would rewrite.
	Stale int `json:"stale"`
}

// Status counts the sealed values the fields locate by format.
func (b *Box) Status(ctx context.Context, recs Records, fields []Field) (Status, error) {
	v, err := b.kek.Current(ctx)
	if err != nil {
		return Status{}, err
	}
	st := Status{Source: b.kek.Name(), Version: v, Formats: map[string]int{}, Kinds: map[string]int{}}
	current := fmt.Sprintf("v2/%s/v%d", st.Source, v)
	for _, f := range fields {
		list, err := recs.ListRecords(ctx, f.Prefix)
		if err != nil {
			return st, err
		}
		for _, raw := range list {
			sealed, _, err := f.sealed(raw)
			if err != nil || sealed == "" {
				continue
			}
			format := Format(sealed)
			st.Formats[format]++
			st.Kinds[f.Kind]++
			if format != current {
				st.Stale++
			}
		}
	}
	return st, nil
}

// Keeper rotates and counts the secrets its records hold: what the admin
// API's /api/v1/secrets endpoints serve.
type Keeper struct {
	Box     *Box
	Records Records
	Fields  []Field
}

// Rotate is Box.Rotate over the keeper's records.
func (k Keeper) Rotate(ctx context.Context) (RotateReport, error) {
	return k.Box.Rotate(ctx, k.Records, k.Fields)
}

// Status is Box.Status over the keeper's records.
func (k Keeper) Status(ctx context.Context) (Status, error) {
	return k.Box.Status(ctx, k.Records, k.Fields)
}
