package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// The sealed formats. A "v1:" value is base64(nonce‖ciphertext) under the
// master key itself (clawd before envelope encryption); it still opens.
// Every new seal is a "v2:" envelope:
//
//	v2:<algorithm>:<source>:<kek version>:<wrapped data key>:<nonce‖ciphertext>
//
// the last two base64url without padding. The data key (DEK) is random per
// secret; the key source (file, env, vault) wraps it under its key
// (KEK) of that version. Rotation rewrites only the wrapped data key and
// the version, never the ciphertext.
const (
	prefixV1 = "v1:"
	prefixV2 = "v2:"
)

// Algorithms a secret's data key encrypts it with (the names
// namespaces.<ns>.encryption.algorithm takes).
const (
	AES256GCM        = "AES-256-GCM"
	ChaCha20Poly1305 = "ChaCha20-Poly1305"
)

// algorithm ids as written in a v2 value.
var algIDs = map[string]string{AES256GCM: "aes256gcm", ChaCha20Poly1305: "chacha20poly1305"}

// Envelope is a parsed v2 value.
type Envelope struct {
	Algorithm  string // AES256GCM or ChaCha20Poly1305
	Source     string // the key source that wrapped the data key
	Version    int    // the key source's KEK version
	WrappedDEK []byte
	Sealed     []byte // nonce ‖ ciphertext ‖ tag
}

var b64 = base64.RawURLEncoding.Strict() // one text per value: fuzzing found "00" and "0w" both decoding to one byte

// String is the stored form.
func (e Envelope) String() string {
	return prefixV2 + algIDs[e.Algorithm] + ":" + e.Source + ":" + strconv.Itoa(e.Version) + ":" +
		b64.EncodeToString(e.WrappedDEK) + ":" + b64.EncodeToString(e.Sealed)
}

// ErrFormat reports a value that is not a sealed secret clawd wrote.
var ErrFormat = errors.New("not a sealed secret (want v1: or v2:)")

// ParseEnvelope reads a v2 value.
func ParseEnvelope(s string) (Envelope, error) {
	rest, ok := strings.CutPrefix(s, prefixV2)
	if !ok {
		return Envelope{}, ErrFormat
	}
	f := strings.Split(rest, ":")
	if len(f) != 5 {
		return Envelope{}, fmt.Errorf("v2 sealed value has %d fields, want 5: %w", len(f), ErrFormat)
	}
	var e Envelope
	for name, id := range algIDs {
		if f[0] == id {
			e.Algorithm = name
		}
	}
	if e.Algorithm == "" {
		return Envelope{}, fmt.Errorf("unknown algorithm %q: %w", f[0], ErrFormat)
	}
	if !validSourceName(f[1]) {
		return Envelope{}, fmt.Errorf("unknown key source %q: %w", f[1], ErrFormat)
	}
	e.Source = f[1]
	v, err := strconv.Atoi(f[2])
	if err != nil || v < 1 || strconv.Itoa(v) != f[2] {
		return Envelope{}, fmt.Errorf("bad key version %q: %w", f[2], ErrFormat)
	}
	e.Version = v
	if e.WrappedDEK, err = b64.DecodeString(f[3]); err != nil || len(e.WrappedDEK) == 0 {
		return Envelope{}, fmt.Errorf("bad wrapped data key: %w", ErrFormat)
	}
	if e.Sealed, err = b64.DecodeString(f[4]); err != nil || len(e.Sealed) == 0 {
		return Envelope{}, fmt.Errorf("bad ciphertext: %w", ErrFormat)
	}
	return e, nil
}

func validSourceName(s string) bool {
	switch s {
	case SourceFile, SourceEnv, SourceVault:
		return true
	}
	return false
}

// Format names a sealed value's format for `clawd secrets status`:
// "v1", or "v2/<source>/v<version>"; "unknown" for anything else.
func Format(sealed string) string {
	if strings.HasPrefix(sealed, prefixV1) {
		return "v1"
	}
	e, err := ParseEnvelope(sealed)
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("v2/%s/v%d", e.Source, e.Version)
}

// NormalizeAlgorithm returns the canonical algorithm name ("" is
// AES-256-GCM), or an error naming the valid ones.
func NormalizeAlgorithm(alg string) (string, error) {
	switch strings.ToLower(alg) {
	case "", "aes-256-gcm", "aes256gcm":
		return AES256GCM, nil
	case "chacha20-poly1305", "chacha20poly1305":
		return ChaCha20Poly1305, nil
	}
	return "", fmt.Errorf("unknown encryption algorithm %q (use %s or %s)", alg, AES256GCM, ChaCha20Poly1305)
}

// newAEAD returns the cipher for a 32-byte data key.
func newAEAD(alg string, key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("data key is %d bytes; want %d", len(key), KeySize)
	}
	switch alg {
	case AES256GCM:
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(block)
	case ChaCha20Poly1305:
		return chacha20poly1305.New(key)
	}
	return nil, fmt.Errorf("unknown encryption algorithm %q", alg)
}

// dataAAD binds a secret's ciphertext to its context and algorithm but
// not to the wrapped key, which rotation replaces.
func dataAAD(alg, context string) []byte {
	return []byte("clawd/v2/" + algIDs[alg] + "\x00" + context)
}
