// Package secrets seals what clawd stores on behalf of operators (provider
// keys today; billing and login secrets later) with AES-256-GCM before it
// reaches etcd, and derives the per-purpose keys clawd computes tokens
// with. The master key comes from the environment or a key file that is
// created, mode 0600, on first start.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the master key's length: AES-256.
const KeySize = 32

// sealedPrefix names the format of a sealed value, so a later format (a
// Vault-wrapped key, say) can be told apart.
const sealedPrefix = "v1:"

// Box seals and opens secrets under one master key.
type Box struct {
	aead cipher.AEAD
	key  []byte
}

// New returns a Box for a 32-byte master key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secrets key is %d bytes; it must be %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead, key: append([]byte(nil), key...)}, nil
}

// Load returns the Box for the key given inline (base64 or hex of 32
// bytes, e.g. from CLAWD_SECRETS_KEY) or, when inline is empty, the key in
// file, which is created with a random key (mode 0600) when it does not
// exist yet.
func Load(inline, file string) (*Box, error) {
	if inline != "" {
		key, err := decodeKey(inline)
		if err != nil {
			return nil, fmt.Errorf("secrets key from the environment (CLAWD_SECRETS_KEY): %w", err)
		}
		return New(key)
	}
	raw, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return create(file)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the secrets key: %w", err)
	}
	if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets key file %s is readable by others (mode %o): chmod 600 it", file, fi.Mode().Perm())
	}
	key, err := decodeKey(string(raw))
	if err != nil {
		return nil, fmt.Errorf("secrets key file %s: %w", file, err)
	}
	return New(key)
}

func create(file string) (*Box, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating the secrets key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return nil, fmt.Errorf("writing the secrets key: %w", err)
	}
	return New(key)
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, fmt.Errorf("not %d bytes in base64 or hex (make one with: head -c32 /dev/urandom | base64)", KeySize)
}

// Seal encrypts plain. context is authenticated but not stored: the same
// context must be given to Open, so a sealed value copied to another
// record (another provider's name) does not open there.
func (b *Box) Seal(plain []byte, context string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := b.aead.Seal(nonce, nonce, plain, []byte(context))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// ErrOpen reports a sealed value that does not open under this key and
// context: another key, another record, or tampering.
var ErrOpen = errors.New("secret does not decrypt with this key (was the secrets key changed?)")

// Open decrypts what Seal returned for the same context.
func (b *Box) Open(sealed, context string) ([]byte, error) {
	enc, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, fmt.Errorf("unknown sealed format: %w", ErrOpen)
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return nil, ErrOpen
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Derive returns a key for one purpose (HMAC-SHA256 of the master key and
// the purpose), so tokens computed for one use never verify for another
// and the master key itself is never used outside the cipher.
func (b *Box) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte("clawd/" + purpose))
	return m.Sum(nil)
}
