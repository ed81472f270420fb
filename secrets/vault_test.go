package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/secrets/secretstest"
	"github.com/clawd-dev/clawd/secrets/vaulttest"
)

func vaultOptions(t *testing.T, addr, token, key string) Options {
	t.Helper()
	dir := t.TempDir()
	tok := filepath.Join(dir, "vault.token")
	if err := os.WriteFile(tok, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Options{Source: "vault", KeyFile: filepath.Join(dir, "secrets.key"),
		Vault: VaultConfig{Address: addr, TokenFile: tok, Mount: "transit", Key: key}}
}

func TestVaultSealOpenRotate(t *testing.T) {
	ctx := context.Background()
	vs := vaulttest.New("transit", "s.root-token")
	vs.CreateKey("clawd")
	hs := vs.Start(t)
	o := vaultOptions(t, hs.URL, "s.root-token", "clawd")
	b, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal([]byte("sk-anthropic"), "provider/anthropic")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v2:aes256gcm:vault:1:") || vs.Calls("datakey") != 1 {
		t.Fatalf("sealed %s after %d datakey calls", sealed, vs.Calls("datakey"))
	}
	// A new process has no cached data key: it asks Vault to decrypt.
	fresh, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fresh.Open(sealed, "provider/anthropic"); err != nil || string(got) != "sk-anthropic" || vs.Calls("decrypt") != 1 {
		t.Fatalf("open: %q %v (decrypts %d)", got, err, vs.Calls("decrypt"))
	}
	if _, err := fresh.Open(sealed, "provider/openai"); !errors.Is(err, ErrOpen) {
		t.Errorf("wrong context: %v", err)
	}
	// The key file still derives token keys: the same across processes.
	if !bytes.Equal(b.Derive("modelgw-token"), fresh.Derive("modelgw-token")) {
		t.Error("derived keys differ between two starts on one key file")
	}

	// Rotate the key in Vault, then clawd's secrets: rewrap, no data rewrite.
	if v := vs.RotateKey("clawd"); v != 2 {
		t.Fatalf("vault key version %d", v)
	}
	recs := secretstest.NewRecords(map[string][]byte{"providers/anthropic": []byte(`{"sealedKey":"` + sealed + `"}`)})
	fields := []Field{{Kind: "provider keys", Prefix: "providers/", JSON: "sealedKey", Context: func(k string) string { return "provider/" + k }}}
	rep, err := fresh.Rotate(ctx, recs, fields)
	if err != nil || rep.Source != "vault" || rep.Version != 2 || rep.NewVersion || rep.Counts[Rewrapped] != 1 || vs.Calls("rewrap") != 1 {
		t.Fatalf("rotate: %+v %v (rewraps %d)", rep, err, vs.Calls("rewrap"))
	}
	after := string(recs.Get("providers/anthropic"))
	e1, _ := ParseEnvelope(sealed)
	e2, err := ParseEnvelope(after[len(`{"sealedKey":"`) : len(after)-2])
	if err != nil || e2.Version != 2 || !bytes.Equal(e1.Sealed, e2.Sealed) {
		t.Fatalf("after rotation %s: %v", after, err)
	}
	third, _ := Open(ctx, o)
	if got, err := third.Open(e2.String(), "provider/anthropic"); err != nil || string(got) != "sk-anthropic" {
		t.Fatalf("open after rewrap: %q %v", got, err)
	}
	st, err := third.Status(ctx, recs, fields)
	if err != nil || st.Version != 2 || st.Formats["v2/vault/v2"] != 1 || st.Stale != 0 {
		t.Errorf("status %+v %v", st, err)
	}
}

// TestVaultErrors: each failure is one line saying what to fix.
func TestVaultErrors(t *testing.T) {
	ctx := context.Background()
	vs := vaulttest.New("transit", "good")
	vs.CreateKey("clawd")
	hs := vs.Start(t)

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + ln.Addr().String()
	ln.Close()

	for name, tc := range map[string]struct {
		o    Options
		is   error
		want string
	}{
		"bad token":     {vaultOptions(t, hs.URL, "bad", "clawd"), ErrVaultDenied, "permission denied"},
		"server down":   {vaultOptions(t, down, "good", "clawd"), ErrVaultUnreachable, "connection refused"},
		"key not found": {vaultOptions(t, hs.URL, "good", "nope"), ErrVaultKeyNotFound, "vault write -f transit/keys/nope"},
		"wrong mount":   {func() Options { o := vaultOptions(t, hs.URL, "good", "clawd"); o.Vault.Mount = "kv"; return o }(), nil, "route entry not found"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(ctx, tc.o)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v; want one line, %v, with %q", err, tc.is, tc.want)
			}
		})
	}

	// Errors after start: the token is revoked, the key deleted, Vault stops.
	o := vaultOptions(t, hs.URL, "good", "clawd")
	b, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := b.Seal([]byte("x"), "c")
	os.WriteFile(o.Vault.TokenFile, []byte("revoked"), 0o600)
	fresh, _ := New(bytes.Repeat([]byte{1}, 32)) // not configured with vault
	if _, err := fresh.Open(sealed, "c"); err == nil || !strings.Contains(err.Error(), "not configured with") {
		t.Errorf("vault value on a box without vault: %v", err)
	}
	if _, err := b.Seal([]byte("y"), "c"); !errors.Is(err, ErrVaultDenied) {
		t.Errorf("seal with a revoked token: %v", err)
	}
	hs.Close()
	os.WriteFile(o.Vault.TokenFile, []byte("good"), 0o600)
	if _, err := b.Seal([]byte("y"), "c"); !errors.Is(err, ErrVaultUnreachable) {
		t.Errorf("seal with vault down: %v", err)
	}
}

// TestMigrateFileToVault: secrets sealed under the key file still open
// once clawd runs with Vault, and a rotation reseals them under Vault.
func TestMigrateFileToVault(t *testing.T) {
	ctx := context.Background()
	vs := vaulttest.New("transit", "tok")
	vs.CreateKey("clawd")
	hs := vs.Start(t)
	o := vaultOptions(t, hs.URL, "tok", "clawd")
	fileBox, err := Load("", o.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := fileBox.SealWith(ctx, ChaCha20Poly1305, []byte("whsec_1"), "billing/stripe/webhook-secret")
	vb, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := vb.Open(sealed, "billing/stripe/webhook-secret"); err != nil || string(got) != "whsec_1" {
		t.Fatalf("file-wrapped secret under vault: %q %v", got, err)
	}
	recs := secretstest.NewRecords(map[string][]byte{"billing/settings": []byte(`{"sealedWebhookSecret":"` + sealed + `"}`)})
	fields := []Field{{Kind: "stripe keys", Prefix: "billing/settings", JSON: "sealedWebhookSecret", Context: func(string) string { return "billing/stripe/webhook-secret" }}}
	rep, err := vb.Rotate(ctx, recs, fields)
	if err != nil || rep.Counts[Resealed] != 1 {
		t.Fatalf("rotate %+v %v", rep, err)
	}
	var rec map[string]string
	json.Unmarshal(recs.Get("billing/settings"), &rec)
	if !strings.HasPrefix(rec["sealedWebhookSecret"], "v2:chacha20poly1305:vault:1:") {
		t.Fatalf("after migration: %.40s", rec["sealedWebhookSecret"])
	}
	if got, err := vb.Open(rec["sealedWebhookSecret"], "billing/stripe/webhook-secret"); err != nil || string(got) != "whsec_1" {
		t.Fatalf("migrated secret: %q %v", got, err)
	}
}
