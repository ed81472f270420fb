// Package apikey is the tenant API key model: how keys are made, how they
// are recognised and hashed, and the record the store keeps of each one.
// The secret itself is shown once at creation and never stored.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// SecretPrefix starts every key, so clients, logs scanners and the router
// can tell a clawd key from other bearer tokens.
const SecretPrefix = "sk-"

// IDPrefix starts every key id.
const IDPrefix = "key_"

const (
	// secretBytes of crypto/rand output make the random part: 192 bits,
	// well above the 128 that make guessing hopeless.
	secretBytes = 24
	// secretChars is how many base62 digits 2^192-1 needs; shorter
	// encodings are zero-padded so every key has the same length.
	secretChars = 33
	idChars     = 10
	// displayRandom is how many random characters Prefix keeps after
	// "sk-<ns>-": enough to tell a tenant's keys apart, a small fraction
	// of the 192 bits.
	displayRandom = 6
)

const base62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// State is where a key is in its life, as the CLI shows it.
type State string

// States.
const (
	StateActive  State = "active"
	StateExpired State = "expired"
	StateRevoked State = "revoked"
)

// Key is the stored record of one API key. It has only the hash of the
// secret, so reading the store cannot recover a usable key.
type Key struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Name      string `json:"name,omitempty"`
	// Prefix is the start of the secret, to recognise a key in a list.
	Prefix string `json:"prefix"`
	// Hash is Hash(secret), hex.
	Hash string `json:"hash"`
	// RateLimit is a units.Rate in its String form; empty is unlimited.
	RateLimit  string    `json:"rateLimit,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
}

// StateAt says whether k is usable at now. Revocation wins over expiry
// because it is the operator's explicit act.
func (k Key) StateAt(now time.Time) State {
	switch {
	case !k.RevokedAt.IsZero():
		return StateRevoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return StateExpired
	}
	return StateActive
}

// New makes a key for namespace ns: the record to store and the secret to
// show once. ttl 0 means the key never expires; rateLimit is stored as
// given (the caller has canonicalised it).
func New(ns, name, rateLimit string, ttl time.Duration, now time.Time) (Key, string, error) {
	secret, err := NewSecret(ns)
	if err != nil {
		return Key{}, "", err
	}
	id, err := NewID()
	if err != nil {
		return Key{}, "", err
	}
	k := Key{
		ID:        id,
		Namespace: ns,
		Name:      name,
		Prefix:    DisplayPrefix(secret),
		Hash:      Hash(secret),
		RateLimit: rateLimit,
		CreatedAt: now.UTC(),
	}
	if ttl > 0 {
		k.ExpiresAt = k.CreatedAt.Add(ttl)
	}
	return k, secret, nil
}

// NewSecret returns "sk-<ns>-" and 192 random bits in base62. The
// namespace in clear lets an operator see at a glance whose key leaked;
// it grants nothing, since the router trusts only the stored record.
func NewSecret(ns string) (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating API key: %w", err)
	}
	// big.Int.Text uses exactly the digits of base62 above for base 62.
	r := new(big.Int).SetBytes(b[:]).Text(62)
	return SecretPrefix + ns + "-" + strings.Repeat("0", secretChars-len(r)) + r, nil
}

// NewID returns "key_" and 10 uniformly random base62 characters. Ids are
// not secret; their uniqueness is enforced by the store's create guard.
func NewID() (string, error) {
	out := make([]byte, 0, len(IDPrefix)+idChars)
	out = append(out, IDPrefix...)
	var buf [32]byte
	for len(out) < len(IDPrefix)+idChars {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("generating API key id: %w", err)
		}
		for _, c := range buf {
			// Rejecting bytes >= 248 (4*62) keeps every digit equally likely.
			if c < 248 && len(out) < len(IDPrefix)+idChars {
				out = append(out, base62[c%62])
			}
		}
	}
	return string(out), nil
}

// Hash is the stored form of a secret: SHA-256, hex. A fast hash is right
// here, unlike for passwords: the secret has 192 random bits, so no
// dictionary or brute force can invert it however fast the hash is, and the
// router hashes on every request.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// DisplayPrefix is what lists show of a secret: "sk-<ns>-" and the first
// random characters. (The first 12 characters alone would show only
// "sk-tenant-a-" for every key of tenant-a.)
func DisplayPrefix(secret string) string {
	ns, random, ok := split(secret)
	if !ok {
		if len(secret) > 12 {
			return secret[:12]
		}
		return secret
	}
	return SecretPrefix + ns + "-" + random[:displayRandom]
}

// split cuts a secret into its namespace and random part. Namespace names
// may contain '-', the base62 part cannot, so the last '-' separates them.
func split(s string) (ns, random string, ok bool) {
	rest, found := strings.CutPrefix(s, SecretPrefix)
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return "", "", false
	}
	ns, random = rest[:i], rest[i+1:]
	if len(random) != secretChars {
		return "", "", false
	}
	for i := 0; i < len(random); i++ {
		if strings.IndexByte(base62, random[i]) < 0 {
			return "", "", false
		}
	}
	return ns, random, true
}

// ValidID checks that id has the shape NewID gives, so it is safe to use
// in a store key and a URL.
func ValidID(id string) error {
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if ok && len(rest) == idChars {
		for i := 0; i < len(rest); i++ {
			if strings.IndexByte(base62, rest[i]) < 0 {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("invalid API key id %q: want %s followed by %d letters or digits (see 'clawd apikey list')", id, IDPrefix, idChars)
}
