package secrets

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sealV1 seals as clawd did before envelopes: AES-256-GCM under the master
// key, base64(nonce‖ciphertext).
func sealV1(t *testing.T, key, plain []byte, context string) string {
	t.Helper()
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return "v1:" + base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(context)))
}

func TestSealOpen(t *testing.T) {
	b, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, alg := range []string{AES256GCM, ChaCha20Poly1305} {
		t.Run(alg, func(t *testing.T) {
			sealed, err := b.SealWith(ctx, alg, []byte("sk-live-123"), "provider/openai")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(sealed, "v2:"+algIDs[alg]+":file:1:") || strings.Contains(sealed, "sk-live") {
				t.Fatalf("sealed value %s", sealed)
			}
			again, _ := b.SealWith(ctx, alg, []byte("sk-live-123"), "provider/openai")
			e1, _ := ParseEnvelope(sealed)
			e2, _ := ParseEnvelope(again)
			if bytes.Equal(e1.WrappedDEK, e2.WrappedDEK) || bytes.Equal(e1.Sealed, e2.Sealed) {
				t.Error("two seals share a data key or ciphertext")
			}
			got, err := b.Open(sealed, "provider/openai")
			if err != nil || string(got) != "sk-live-123" {
				t.Fatalf("open: %q, %v", got, err)
			}
			fresh, _ := New(bytes.Repeat([]byte{7}, KeySize)) // no cached data key
			if got, err := fresh.Open(sealed, "provider/openai"); err != nil || string(got) != "sk-live-123" {
				t.Fatalf("open with the key alone: %q, %v", got, err)
			}
			f := strings.Split(sealed, ":")
			flip := func(i int) string {
				g := append([]string(nil), f...)
				raw, _ := b64.DecodeString(g[i])
				raw[len(raw)/2] ^= 1
				g[i] = b64.EncodeToString(raw)
				return strings.Join(g, ":")
			}
			other := map[string]string{AES256GCM: "chacha20poly1305", ChaCha20Poly1305: "aes256gcm"}[alg]
			for name, tc := range map[string]struct{ sealed, ctx string }{
				"other context":     {sealed, "provider/anthropic"},
				"tampered data":     {flip(5), "provider/openai"},
				"tampered data key": {flip(4), "provider/openai"},
				"other algorithm":   {strings.Replace(sealed, algIDs[alg], other, 1), "provider/openai"},
				"other version":     {strings.Replace(sealed, ":file:1:", ":file:2:", 1), "provider/openai"},
				"no prefix":         {strings.TrimPrefix(sealed, "v2:"), "provider/openai"},
				"not base64":        {"v1:!!!", "provider/openai"},
				"short":             {"v1:AAAA", "provider/openai"},
			} {
				if _, err := fresh.Open(tc.sealed, tc.ctx); err == nil {
					t.Errorf("%s: opened", name)
				}
			}
			if _, err := fresh.Open(sealed, "provider/anthropic"); !errors.Is(err, ErrOpen) {
				t.Errorf("other context: %v, want ErrOpen", err)
			}
			stranger, _ := New(bytes.Repeat([]byte{8}, KeySize))
			if _, err := stranger.Open(sealed, "provider/openai"); !errors.Is(err, ErrOpen) {
				t.Errorf("another key opened it: %v", err)
			}
		})
	}
}

func TestOpenV1AndUpgrade(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	b, _ := New(key)
	old := sealV1(t, key, []byte("client-secret"), "login/acme")
	got, err := b.Open(old, "login/acme")
	if err != nil || string(got) != "client-secret" {
		t.Fatalf("v1 value: %q, %v", got, err)
	}
	if _, err := b.Open(old, "login/other"); !errors.Is(err, ErrOpen) {
		t.Errorf("v1 under another context: %v", err)
	}
	up, change, err := b.Rewrap(context.Background(), old, "login/acme")
	if err != nil || change != Upgraded || Format(up) != "v2/file/v1" {
		t.Fatalf("rewrap v1: %s %s %v", Format(up), change, err)
	}
	if got, err := b.Open(up, "login/acme"); err != nil || string(got) != "client-secret" {
		t.Fatalf("upgraded value: %q, %v", got, err)
	}
}

func TestLoadCreatesKeyFileOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secrets.key")
	b1, err := Load("", file)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	sealed, _ := b1.Seal([]byte("x"), "c")
	b2, err := Load("", file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Derive("a"), b2.Derive("a")) {
		t.Error("derived keys changed across loads")
	}
	if got, err := b2.Open(sealed, "c"); err != nil || string(got) != "x" {
		t.Fatalf("reloaded key does not open: %v", err)
	}
	os.Chmod(file, 0o644)
	if _, err := Load("", file); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key file: %v", err)
	}
}

func TestLoadInline(t *testing.T) {
	key := bytes.Repeat([]byte{1}, KeySize)
	for _, s := range []string{base64.StdEncoding.EncodeToString(key), strings.Repeat("01", KeySize)} {
		b, err := Load(s, "/nonexistent/never-created")
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if b.Source().Name() != SourceEnv {
			t.Errorf("source %s, want env", b.Source().Name())
		}
		if !bytes.Equal(b.Derive("a"), b.Derive("a")) || bytes.Equal(b.Derive("a"), b.Derive("b")) {
			t.Error("Derive is not a function of its purpose")
		}
	}
	for _, bad := range []string{"short", base64.StdEncoding.EncodeToString([]byte("16 bytes exactly"))} {
		if _, err := Load(bad, ""); err == nil || !strings.Contains(err.Error(), "CLAWD_SECRETS_KEY") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestOpenOptionsRefused(t *testing.T) {
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"env without key":      {Options{Source: "env", KeyFile: filepath.Join(dir, "k")}, "CLAWD_SECRETS_KEY"},
		"local is the env key": {Options{Source: "local", Key: "short"}, "(CLAWD_SECRETS_KEY), key 1: not 32 bytes"},
		"file with env key":    {Options{Source: "file", Key: key}, "unset CLAWD_SECRETS_KEY"},
		"vault without addr":   {Options{Source: "vault", Key: key}, "--vault.address"},
		"vault without key":    {Options{Source: "vault", Key: key, Vault: VaultConfig{Address: "http://127.0.0.1:1", TokenFile: "/t"}}, "--vault.key"},
		"vault bad address":    {Options{Source: "vault", Key: key, Vault: VaultConfig{Address: "127.0.0.1:8200", TokenFile: "/t", Key: "k"}}, "invalid --vault.address"},
		"unknown":              {Options{Source: "kms", Key: key}, "use file, env or vault"},
		"no key at all":        {Options{}, "--secrets.keyFile"},
	} {
		if _, err := Open(context.Background(), tc.o); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", name, err, tc.want)
		}
	}
	// Refused before anything is written.
	file := filepath.Join(dir, "secrets.key")
	for _, o := range []Options{{Source: "kms", KeyFile: file}, {Source: "vault", KeyFile: file}, {Source: "env", KeyFile: file}} {
		Open(context.Background(), o)
		if _, err := os.Stat(file); err == nil {
			t.Fatalf("%+v created the key file", o)
		}
	}
}

func TestCookies(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	b, _ := New(key)
	c := b.Cookies()
	sealed, err := c.Seal([]byte(`{"user":"u"}`), "session/acme")
	if err != nil || !strings.HasPrefix(sealed, "v1:") {
		t.Fatalf("cookie %s %v", sealed, err)
	}
	if got, err := c.Open(sealed, "session/acme"); err != nil || string(got) != `{"user":"u"}` {
		t.Fatalf("open: %q %v", got, err)
	}
	// Cookies sealed before envelopes (Box.Seal was v1 then) still open.
	if got, err := c.Open(sealV1(t, key, []byte("old"), "session/acme"), "session/acme"); err != nil || string(got) != "old" {
		t.Fatalf("old cookie: %q %v", got, err)
	}
	v2, _ := b.Seal([]byte("x"), "session/acme")
	for name, s := range map[string]string{"other context": sealed, "v2": v2, "tampered": sealed[:len(sealed)-3] + "AAA"} {
		ctx := "session/acme"
		if name == "other context" {
			ctx = "session/other"
		}
		if _, err := c.Open(s, ctx); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
}
