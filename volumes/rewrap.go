package volumes

import (
	"context"
	"errors"
	"fmt"
)

// KeyRewrapper is a KeyWrapper that can seal a wrapped key again under
// its newest master key without showing it (Vault transit's rewrap).
// Wrappers without it are rewrapped by unwrapping and wrapping.
type KeyRewrapper interface {
	RewrapKey(ctx context.Context, wrapped, context string) (string, error)
}

// KeyReplacer is a KeyStore that swaps a stored key for another only if
// it is still old (compare-and-swap).
type KeyReplacer interface {
	ReplaceVolumeKey(ctx context.Context, ns, old, wrapped string) error
}

// Rewrap seals namespace ns's volume key again under the key source's
// current key (key rotation). The volume key itself is unchanged, so no
// data is rewritten and a mounted volume stays unlocked.
func (m *Manager) Rewrap(ctx context.Context, ns string) error {
	rs, ok := m.cfg.KeyStore.(KeyReplacer)
	if !ok || m.cfg.Keys == nil {
		return errors.New("rewrapping volume keys needs a key store that can replace them")
	}
	old, err := m.cfg.KeyStore.VolumeKey(ctx, ns)
	if err != nil || old == "" {
		return err
	}
	keyContext := "clawd/volume/" + ns
	var wrapped string
	if rw, ok := m.cfg.Keys.(KeyRewrapper); ok {
		wrapped, err = rw.RewrapKey(ctx, old, keyContext)
	} else {
		var plain []byte
		if plain, err = m.cfg.Keys.UnwrapKey(ctx, old, keyContext); err == nil {
			wrapped, err = m.cfg.Keys.WrapKey(ctx, plain, keyContext)
			clear(plain)
		}
	}
	if err != nil {
		return fmt.Errorf("rewrapping the volume key of %s: %w", ns, err)
	}
	return rs.ReplaceVolumeKey(ctx, ns, old, wrapped)
}
