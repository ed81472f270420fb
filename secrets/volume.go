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

// ChosenWrapper wraps each key with the source and algorithm chosen for
// its context: one wrapper for every namespace, each following its own
// encryption.keySource and encryption.algorithm.
type ChosenWrapper struct {
	box    *Box
	choose func(context string) (keySource, algorithm string)
}

// WrapperFor returns a wrapper that asks choose, for every key it wraps,
// which source and algorithm to use (the wiring reads the namespace's
// encryption.* config there; "" for either is the default).
func (b *Box) WrapperFor(choose func(context string) (keySource, algorithm string)) *ChosenWrapper {
	return &ChosenWrapper{box: b, choose: choose}
}

// WrapKey seals plain with the source and algorithm chosen for context.
func (c *ChosenWrapper) WrapKey(ctx context.Context, plain []byte, context string) (string, error) {
	w, err := c.box.Wrapper(c.choose(context))
	if err != nil {
		return "", err
	}
	return w.WrapKey(ctx, plain, context)
}

// UnwrapKey opens what WrapKey returned: the value names its own source.
func (c *ChosenWrapper) UnwrapKey(ctx context.Context, wrapped, context string) ([]byte, error) {
	return c.box.OpenContext(ctx, wrapped, context)
}
