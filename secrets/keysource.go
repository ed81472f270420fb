package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Key source names, as written in v2 values and given to
// --secrets.keySource.
const (
	SourceFile  = "file"
	SourceEnv   = "env"
	SourceVault = "vault"
)

// KeySource holds the key-encryption keys (KEKs) that wrap data keys. Its
// versions only grow; every version it has ever had still unwraps.
type KeySource interface {
	// Name is file, env or vault.
	Name() string
	// NewDataKey returns a random 32-byte data key and that key wrapped
	// under the current KEK version.
	NewDataKey(ctx context.Context) (plain, wrapped []byte, version int, err error)
	// Unwrap returns the data key wrapped under KEK version.
	Unwrap(ctx context.Context, wrapped []byte, version int) ([]byte, error)
	// Rewrap wraps a data key again under the current version without
	// the caller seeing it.
	Rewrap(ctx context.Context, wrapped []byte, version int) ([]byte, int, error)
	// Current is the version new data keys are wrapped under.
	Current(ctx context.Context) (int, error)
}

// KeyRotator is a key source that makes a new KEK version itself (the key
// file). Vault's keys are rotated in Vault; env keys by the operator.
type KeyRotator interface {
	RotateKey(ctx context.Context) (int, error)
}

// local is a key source whose KEKs clawd holds: the key file and its
// versions, or keys from the environment.
type local struct {
	name string
	file string // "" for env: no rotation

	mu   sync.Mutex
	keys []cipher.AEAD // version v at keys[v-1]
}

var (
	_ KeySource  = (*local)(nil)
	_ KeyRotator = (*local)(nil)
)

// newLocal returns a source for master keys, oldest first. The KEK of a
// version is derived from its master key, so a KEK never equals the key
// v1 values and Derive use.
func newLocal(name, file string, masters [][]byte) (*local, error) {
	l := &local{name: name, file: file}
	for _, m := range masters {
		if err := l.add(m); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// add appends a version; the caller holds mu or owns l alone.
func (l *local) add(master []byte) error {
	if len(master) != KeySize {
		return fmt.Errorf("key is %d bytes; it must be %d", len(master), KeySize)
	}
	m := hmac.New(sha256.New, master)
	m.Write([]byte("kek:clawd")) // Derive's purposes all start "clawd/"
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	l.keys = append(l.keys, aead)
	return nil
}

func (l *local) Name() string { return l.name }

func (l *local) aad(version int) []byte {
	return []byte("clawd/dek/" + l.name + "/" + strconv.Itoa(version))
}

func (l *local) Current(context.Context) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys), nil
}

func (l *local) kek(version int) (cipher.AEAD, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if version == 0 {
		version = len(l.keys)
	}
	if version < 1 || version > len(l.keys) {
		return nil, 0, fmt.Errorf("%s key version %d is not known here (this node has versions 1 to %d; copy the missing key file from the node that rotated)", l.name, version, len(l.keys))
	}
	return l.keys[version-1], version, nil
}

func (l *local) wrap(dek []byte) ([]byte, int, error) {
	aead, v, err := l.kek(0)
	if err != nil {
		return nil, 0, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, 0, err
	}
	return aead.Seal(nonce, nonce, dek, l.aad(v)), v, nil
}

func (l *local) NewDataKey(context.Context) ([]byte, []byte, int, error) {
	dek := make([]byte, KeySize)
	if _, err := rand.Read(dek); err != nil {
		return nil, nil, 0, err
	}
	wrapped, v, err := l.wrap(dek)
	return dek, wrapped, v, err
}

func (l *local) Unwrap(_ context.Context, wrapped []byte, version int) ([]byte, error) {
	aead, _, err := l.kek(version)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(wrapped) < n {
		return nil, ErrOpen
	}
	dek, err := aead.Open(nil, wrapped[:n], wrapped[n:], l.aad(version))
	if err != nil {
		return nil, ErrOpen
	}
	return dek, nil
}

func (l *local) Rewrap(ctx context.Context, wrapped []byte, version int) ([]byte, int, error) {
	dek, err := l.Unwrap(ctx, wrapped, version)
	if err != nil {
		return nil, 0, err
	}
	return l.wrap(dek)
}

// RotateKey writes a new random key beside the others (<file>.<version>,
// mode 0600) and makes it current.
func (l *local) RotateKey(context.Context) (int, error) {
	if l.file == "" && l.name == SourceFile {
		return 0, errors.New("this key has no key file to add a version to")
	}
	if l.file == "" {
		return 0, errors.New("the env key source has no key file to add a version to: append the new key to CLAWD_SECRETS_KEY (comma-separated, newest last), restart, and rotate again")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	next := len(l.keys) + 1
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return 0, err
	}
	if err := writeKeyFile(versionFile(l.file, next), key); err != nil {
		return 0, err
	}
	if err := l.add(key); err != nil {
		return 0, err
	}
	return next, nil
}

// versionFile is where version v of the key file is kept: the file itself
// for version 1, <file>.<v> after it.
func versionFile(file string, v int) string {
	if v == 1 {
		return file
	}
	return file + "." + strconv.Itoa(v)
}

func writeKeyFile(file string, key []byte) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating the secrets key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return fmt.Errorf("writing the secrets key: %w", err)
	}
	return nil
}

// readKeyFiles reads the key file and its later versions (<file>.2, …),
// creating the file with a random key when it does not exist.
func readKeyFiles(file string) ([][]byte, error) {
	var keys [][]byte
	for v := 1; ; v++ {
		name := versionFile(file, v)
		raw, err := os.ReadFile(name)
		if v == 1 && errors.Is(err, os.ErrNotExist) {
			key := make([]byte, KeySize)
			if _, err := rand.Read(key); err != nil {
				return nil, err
			}
			if err := writeKeyFile(file, key); err != nil {
				return nil, err
			}
			return [][]byte{key}, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the secrets key: %w", err)
		}
		if fi, err := os.Stat(name); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("secrets key file %s is readable by others (mode %o): chmod 600 it", name, fi.Mode().Perm())
		}
		key, err := decodeKey(string(raw))
		if err != nil {
			return nil, fmt.Errorf("secrets key file %s: %w", name, err)
		}
		keys = append(keys, key)
	}
}

// parseEnvKeys reads CLAWD_SECRETS_KEY: one key, or several
// comma-separated, oldest first (the last one is current).
func parseEnvKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for i, part := range strings.Split(s, ",") {
		key, err := decodeKey(part)
		if err != nil {
			return nil, fmt.Errorf("secrets key from the environment (CLAWD_SECRETS_KEY), key %d: %w", i+1, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}
