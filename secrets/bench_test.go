package secrets

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/clawd-dev/clawd/secrets/vaulttest"
)

// Figures for the README: what one seal and one uncached open cost with a
// local key and with Vault transit (the in-repo server on loopback).
func benchBoxes(b *testing.B) map[string]*Box {
	local, _ := New(bytes.Repeat([]byte{7}, KeySize))
	vs := vaulttest.New("transit", "t")
	vs.CreateKey("k")
	hs := vs.Start(b)
	dir := b.TempDir()
	tok := filepath.Join(dir, "t")
	os.WriteFile(tok, []byte("t"), 0o600)
	vault, err := Open(context.Background(), Options{Source: "vault", KeyFile: filepath.Join(dir, "k"),
		Vault: VaultConfig{Address: hs.URL, TokenFile: tok, Key: "k"}})
	if err != nil {
		b.Fatal(err)
	}
	return map[string]*Box{"file": local, "vault": vault}
}

func BenchmarkSeal(b *testing.B) {
	for name, box := range benchBoxes(b) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := box.Seal([]byte("sk-0123456789abcdef0123456789abcdef"), "provider/openai"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenUncached(b *testing.B) {
	for name, box := range benchBoxes(b) {
		b.Run(name, func(b *testing.B) {
			sealed, _ := box.Seal([]byte("sk-0123456789abcdef0123456789abcdef"), "provider/openai")
			for b.Loop() {
				box.dek = dekCache{}
				if _, err := box.Open(sealed, "provider/openai"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
