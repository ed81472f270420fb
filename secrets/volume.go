package secrets

import (
	"context"
	"fmt"
)

// KeyWrapper wraps other keys (a namespace's volume key) with one key
// source: WrapKey seals the key as a v2 envelope under a new data key, so
// those keys are rotated like every other secret. Its method set is what
// volumes' key wrapping interface asks for.
type KeyWrapper struct {
	box *Box
	src KeySource
	alg string
}

// Wrapper returns the wrapper for a namespace's encryption.keySource:
// "" or the daemon's own source name, "local" (the key file, or
// CLAWD_SECRETS_KEY when that is set), "env", or "vault" (only when clawd
// was started with --secrets.keySource=vault). alg is
// encryption.algorithm for the envelope ("": AES-256-GCM).
func (b *Box) Wrapper(keySource, alg string) (*KeyWrapper, error) {
	alg, err := NormalizeAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	name := keySource
	if name == "" {
		name = b.kek.Name()
	}
	if name == "local" {
		name = SourceFile
		if _, ok := b.sources[SourceFile]; !ok {
			name = SourceEnv
		}
	}
	src, ok := b.sources[name]
	if !ok {
		return nil, fmt.Errorf("encryption.keySource %s: clawd was started without it (its key source is %s; see --secrets.keySource)", keySource, b.kek.Name())
	}
	return &KeyWrapper{box: b, src: src, alg: alg}, nil
}

// WrapKey seals plain (a key) for context (say "volume/<ns>").
func (w *KeyWrapper) WrapKey(ctx context.Context, plain []byte, context string) (string, error) {
	return w.box.sealUnder(ctx, w.src, w.alg, plain, context)
}

// UnwrapKey opens what WrapKey returned for the same context, whichever
// configured source wrapped it.
func (w *KeyWrapper) UnwrapKey(ctx context.Context, wrapped, context string) ([]byte, error) {
	return w.box.OpenContext(ctx, wrapped, context)
}
