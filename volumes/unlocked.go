package volumes

import (
	"context"
	"errors"
	"fmt"
)

// Unlocked runs fn with namespace ns's data volume readable from the host.
// An encrypted volume whose key is out of the kernel (its gateway is
// stopped or evicted) gets its key for the duration of fn, removed again
// after it; one whose key is in (its gateway runs), one not encrypted,
// or none mounted is left as it is. fn runs under the namespace's volume
// lock: a wake (Ensure) or a stop (Lock) waits for it, so the key is never
// taken out from under a gateway that started meanwhile, nor left in for
// one that stopped.
func (m *Manager) Unlocked(ctx context.Context, ns string, fn func() error) error {
	l := m.nsLock(ns)
	l.Lock()
	defer l.Unlock()
	mnt := m.mnt(ns, Data)
	if _, ok, err := mountAt(mnt); err != nil || !ok {
		if err != nil {
			return err
		}
		return fn()
	}
	id, enc, err := policyIfExists(m.root(ns, Data))
	if err != nil {
		return err
	}
	if !enc {
		return fn()
	}
	present, err := keyPresent(mnt, id)
	if err != nil {
		return err
	}
	if present {
		return fn()
	}
	added, err := m.unlock(ctx, ns, mnt)
	if err != nil {
		return fmt.Errorf("unlocking the data volume of %s: %w", ns, err)
	}
	if added != id {
		_, rerr := removeKey(mnt, added)
		return errors.Join(fmt.Errorf("unlocking the data volume of %s: its stored key is %s, the volume is encrypted under %s", ns, added, id), rerr)
	}
	ferr := fn()
	busy, err := removeKey(mnt, id)
	if err != nil {
		err = fmt.Errorf("locking the data volume of %s again: %w", ns, err)
	} else if busy {
		m.log.Warn("volume key removed but files are still open; they stay readable until closed", "namespace", ns)
	}
	return errors.Join(ferr, err)
}
