// Package secrets seals what clawd stores on behalf of operators (provider
// keys, OAuth client secrets, Stripe keys, wrapped volume keys) before it
// reaches etcd, and derives the per-purpose keys clawd computes tokens
// with.
//
// Every new secret is envelope-encrypted: sealed with AES-256-GCM (or
// ChaCha20-Poly1305) under a random data key of its own, the data key
// wrapped by a key source (a key file, the environment, or Vault transit).
// The master key from CLAWD_SECRETS_KEY or the key file (created, mode
// 0600, on first start) still derives token keys and opens "v1:" values
// sealed before envelopes existed.
package secrets

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// KeySize is the length of master keys and data keys: 256 bits.
const KeySize = 32

// callTimeout bounds one seal or open that reaches a key source (Vault)
// when the caller gave no deadline.
const callTimeout = 15 * time.Second

// Box seals and opens secrets: new ones as v2 envelopes under its key
// source, old v1 ones under the master key.
type Box struct {
	root []byte      // the master key: Derive, v1 values
	v1   cipher.AEAD // AES-256-GCM under root
	kek  KeySource   // wraps new data keys
	// sources unwrap by name: a value wrapped by a source that is no
	// longer the current one still opens while that source is configured.
	sources map[string]KeySource
	dek     dekCache
}

// New returns a Box for a 32-byte master key; data keys are wrapped by a
// file source of that one key (no file: tests and tools).
func New(key []byte) (*Box, error) {
	src, err := newLocal(SourceFile, "", [][]byte{key})
	if err != nil {
		return nil, err
	}
	return newBox(key, src)
}

func newBox(root []byte, kek KeySource, more ...KeySource) (*Box, error) {
	if len(root) != KeySize {
		return nil, fmt.Errorf("secrets key is %d bytes; it must be %d", len(root), KeySize)
	}
	v1, err := newAEAD(AES256GCM, root)
	if err != nil {
		return nil, err
	}
	b := &Box{root: append([]byte(nil), root...), v1: v1, kek: kek, sources: map[string]KeySource{}}
	for _, s := range append(more, kek) {
		b.sources[s.Name()] = s
	}
	return b, nil
}

// Options choose the key source.
type Options struct {
	// Source is file, env or vault; "" is env when Key is set, else file.
	Source string
	// Key is CLAWD_SECRETS_KEY: base64 or hex of 32 bytes, several
	// comma-separated (oldest first) for the env source's versions.
	Key string
	// KeyFile is the key file (versions beside it as <file>.2, …).
	KeyFile string
	// Vault configures the vault source; its Address empty: none.
	Vault VaultConfig
}

// Load returns the Box for the key given inline (CLAWD_SECRETS_KEY) or,
// when inline is empty, the key file, created with a random key (mode
// 0600) when it does not exist yet.
func Load(inline, file string) (*Box, error) {
	return Open(context.Background(), Options{Key: inline, KeyFile: file})
}

// Open builds the Box the options describe. With the vault source it asks
// Vault for the key's version, so a wrong address, token or key name
// fails here with one line.
func Open(ctx context.Context, o Options) (*Box, error) {
	src := o.Source
	switch src {
	case "", "local": // local: whichever of the key file and CLAWD_SECRETS_KEY is given
		src = SourceFile
		if o.Key != "" {
			src = SourceEnv
		}
	case SourceFile, SourceEnv, SourceVault:
	default:
		return nil, fmt.Errorf("unknown --secrets.keySource %q (use file, env or vault)", o.Source)
	}
	// Check everything that needs no I/O before a key file is created.
	var v *Vault
	switch {
	case src == SourceVault && o.Vault.Address == "":
		return nil, errors.New("--secrets.keySource=vault needs --vault.address, --vault.tokenFile and --vault.key")
	case src == SourceVault:
		var err error
		if v, err = NewVault(o.Vault); err != nil {
			return nil, err
		}
	case src == SourceEnv && o.Key == "":
		return nil, errors.New("--secrets.keySource=env needs the key in CLAWD_SECRETS_KEY")
	case src == SourceFile && o.Key != "":
		return nil, errors.New("--secrets.keySource=file: unset CLAWD_SECRETS_KEY (it wins over the key file) or use --secrets.keySource=env")
	case o.Key == "" && o.KeyFile == "":
		return nil, errors.New("no secrets key: set --secrets.keyFile or CLAWD_SECRETS_KEY")
	}
	var masters [][]byte
	var loc *local
	var err error
	if o.Key != "" {
		if masters, err = parseEnvKeys(o.Key); err != nil {
			return nil, err
		}
		loc, err = newLocal(SourceEnv, "", masters)
	} else {
		if masters, err = readKeyFiles(o.KeyFile); err != nil {
			return nil, err
		}
		loc, err = newLocal(SourceFile, o.KeyFile, masters)
	}
	if err != nil {
		return nil, err
	}
	if v == nil {
		return newBox(masters[0], loc)
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := v.Current(cctx); err != nil {
		return nil, err
	}
	return newBox(masters[0], v, loc)
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

// ErrOpen reports a sealed value that does not open under this key and
// context: another key, another record, or tampering.
var ErrOpen = errors.New("secret does not decrypt with this key (was the secrets key changed?)")

// Source is the key source new secrets are wrapped by.
func (b *Box) Source() KeySource { return b.kek }

// Seal envelope-encrypts plain with AES-256-GCM. context is authenticated
// but not stored: the same context must be given to Open, so a sealed
// value copied to another record (another provider's name) does not open
// there.
func (b *Box) Seal(plain []byte, context string) (string, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return b.SealWith(ctx, AES256GCM, plain, context)
}

// SealWith seals under a new data key with the given algorithm.
func (b *Box) SealWith(ctx context.Context, alg string, plain []byte, context string) (string, error) {
	return b.sealUnder(ctx, b.kek, alg, plain, context)
}

func (b *Box) sealUnder(ctx context.Context, src KeySource, alg string, plain []byte, context string) (string, error) {
	alg, err := NormalizeAlgorithm(alg)
	if err != nil {
		return "", err
	}
	dek, wrapped, ver, err := src.NewDataKey(ctx)
	if err != nil {
		return "", err
	}
	aead, err := newAEAD(alg, dek)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	e := Envelope{Algorithm: alg, Source: src.Name(), Version: ver, WrappedDEK: wrapped,
		Sealed: aead.Seal(nonce, nonce, plain, dataAAD(alg, context))}
	b.dek.put(e, dek)
	return e.String(), nil
}

// Open decrypts what Seal returned for the same context.
func (b *Box) Open(sealed, context string) ([]byte, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return b.OpenContext(ctx, sealed, context)
}

// OpenContext is Open with the caller's deadline for the key source.
func (b *Box) OpenContext(ctx context.Context, sealed, context string) ([]byte, error) {
	if enc, ok := strings.CutPrefix(sealed, prefixV1); ok {
		return b.openV1(enc, context)
	}
	e, err := ParseEnvelope(sealed)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrOpen)
	}
	dek, err := b.unwrap(ctx, e)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(e.Algorithm, dek)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(e.Sealed) < n {
		return nil, ErrOpen
	}
	plain, err := aead.Open(nil, e.Sealed[:n], e.Sealed[n:], dataAAD(e.Algorithm, context))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

func (b *Box) openV1(enc, context string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	n := b.v1.NonceSize()
	if err != nil || len(raw) < n {
		return nil, ErrOpen
	}
	plain, err := b.v1.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

func (b *Box) unwrap(ctx context.Context, e Envelope) ([]byte, error) {
	if dek, ok := b.dek.get(e); ok {
		return dek, nil
	}
	src, ok := b.sources[e.Source]
	if !ok {
		return nil, fmt.Errorf("secret was wrapped by the %s key source, which this clawd is not configured with (--secrets.keySource)", e.Source)
	}
	dek, err := src.Unwrap(ctx, e.WrappedDEK, e.Version)
	if err != nil {
		return nil, err
	}
	b.dek.put(e, dek)
	return dek, nil
}

func defaultCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// dekCache keeps unwrapped data keys, so reopening a secret (the provider
// list is read on every change) does not ask Vault again. Bounded: when
// full it starts over.
type dekCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

const dekCacheSize = 4096

func dekKey(e Envelope) string {
	return e.Source + "\x00" + fmt.Sprint(e.Version) + "\x00" + string(e.WrappedDEK)
}

func (c *dekCache) get(e Envelope) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[dekKey(e)]
	return d, ok
}

func (c *dekCache) put(e Envelope, dek []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= dekCacheSize {
		c.m = map[string][]byte{}
	}
	c.m[dekKey(e)] = dek
}

// Derive returns a key for one purpose (HMAC-SHA256 of the master key and
// the purpose), so tokens computed for one use never verify for another
// and the master key itself is never used outside the cipher.
func (b *Box) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, b.root)
	m.Write([]byte("clawd/" + purpose))
	return m.Sum(nil)
}

// Cookies returns a sealer for short-lived values clawd hands out and gets
// back from clients (sign-in cookies): AES-256-GCM under the master key,
// the v1 format, so no data key and no call to the key source. It opens
// only v1 values: a forged v2 value never makes clawd call Vault.
func (b *Box) Cookies() *CookieBox { return &CookieBox{b: b} }

// CookieBox is Box.Cookies.
type CookieBox struct{ b *Box }

// Seal seals plain for context.
func (c *CookieBox) Seal(plain []byte, context string) (string, error) {
	nonce := make([]byte, c.b.v1.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return prefixV1 + base64.StdEncoding.EncodeToString(c.b.v1.Seal(nonce, nonce, plain, []byte(context))), nil
}

// Open opens what Seal returned for the same context.
func (c *CookieBox) Open(sealed, context string) ([]byte, error) {
	enc, ok := strings.CutPrefix(sealed, prefixV1)
	if !ok {
		return nil, ErrOpen
	}
	return c.b.openV1(enc, context)
}
