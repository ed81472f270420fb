package integration

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/provider"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/secrets/vaulttest"
	"github.com/clawd-dev/clawd/store"
)

// etcdURL is the client URL of the daemon's embedded etcd.
func (d *daemon) etcdURL() string {
	for _, a := range d.args {
		if u, ok := strings.CutPrefix(a, "--etcd.clienturl="); ok {
			return u
		}
	}
	d.t.Fatal("the daemon has no --etcd.clienturl")
	return ""
}

// storedSealedKey reads a provider's record from etcd as stored.
func storedSealedKey(t *testing.T, st *store.Store, name string) (string, []byte) {
	t.Helper()
	recs, err := st.ListRecords(context.Background(), "providers/")
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := recs[name]
	if !ok {
		t.Fatalf("no provider %s in etcd", name)
	}
	var p struct {
		SealedKey string `json:"sealedKey"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p.SealedKey, raw
}

// filesHolding lists the files under dir whose bytes contain s.
func filesHolding(t *testing.T, dir, s string) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
			hits = append(hits, path)
		}
		return nil
	})
	return hits
}

// clawd up with its secrets wrapped by Vault's transit engine (the in-repo
// server that follows Vault's API; Vault itself cannot be installed here):
// a provider key reaches etcd only as a v2 envelope whose data key Vault
// wrapped, nothing in the data dir holds it in plain text, a rotation
// rewraps it with Vault's rewrap (the ciphertext is not rewritten), and
// after a restart the model gateway still calls the provider with it.
func TestSecretsInVault(t *testing.T) {
	const token = "hvs.integration-test-token"
	vs := vaulttest.New("transit", token)
	vs.CreateKey("clawd")
	vault := vs.Start(t)
	tokenFile := filepath.Join(t.TempDir(), "vault-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vaultArgs := []string{"--secrets.keysource=vault", "--vault.address=" + vault.URL, "--vault.tokenfile=" + tokenFile, "--vault.key=clawd"}

	t.Run("vault down refuses to start", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, clawdBin, "up", "--datadir="+dir, "--api.address=127.0.0.1:0", "--router.address=127.0.0.1:0", "--router.tlsaddress=",
			fmt.Sprintf("--etcd.clienturl=http://127.0.0.1:%d", freePort(t)), fmt.Sprintf("--etcd.peerurl=http://127.0.0.1:%d", freePort(t)), "--modelgw.address=:0", "--warmpool.size=0",
			"--secrets.keysource=vault", "--vault.address=http://127.0.0.1:1", "--vault.tokenfile="+tokenFile, "--vault.key=clawd")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil || ctx.Err() != nil || !strings.Contains(stderr.String(), "vault is unreachable at http://127.0.0.1:1") {
			t.Fatalf("clawd up with Vault down: %v\n%s", err, stderr.String())
		}
	})

	fp, fakeURL := startFakeProvider(t)
	d := startDaemon(t, vaultArgs...)
	d.addProvider("openai", "openai-completions", fakeURL+"/v1", fakeProviderKey, "gpt-4o")
	st, err := store.Open(context.Background(), store.Config{Endpoints: []string{d.etcdURL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A provider an older clawd stored: v1, sealed under the key file itself.
	legacy := provider.Provider{Name: "legacy", API: "openai-completions", BaseURL: fakeURL + "/v1", Models: []string{"legacy-model"},
		SealedKey: sealV1(t, filepath.Join(d.dir, "secrets.key"), fakeProviderKey, provider.KeyContext("legacy")), CreatedAt: time.Now().UTC()}
	if err := st.CreateProvider(context.Background(), legacy); err != nil {
		t.Fatal(err)
	}

	var status secrets.Status
	if err := json.Unmarshal([]byte(d.mustClawd("secrets", "status", "-o", "json")), &status); err != nil {
		t.Fatal(err)
	}
	if status.Source != "vault" || status.Version != 1 || status.Formats["v2/vault/v1"] != 1 || status.Formats["v1"] != 1 || status.Kinds["provider keys"] != 2 {
		t.Fatalf("secrets status %+v", status)
	}

	before, raw := storedSealedKey(t, st, "openai")
	if bytes.Contains(raw, []byte(fakeProviderKey)) || !strings.HasPrefix(before, "v2:aes256gcm:vault:1:") {
		t.Fatalf("etcd holds %s", raw)
	}
	if hits := filesHolding(t, d.dir, fakeProviderKey); len(hits) > 0 {
		t.Fatalf("the provider key is in plain text in %v", hits)
	}
	if vs.Calls("datakey") < 1 {
		t.Fatal("clawd sealed the key without a Vault data key")
	}

	// Rotate the key in Vault, then clawd's secrets.
	vs.RotateKey("clawd")
	out := d.mustClawd("secrets", "rotate")
	if !strings.Contains(out, "rotated to vault key version 2: 1 rewrapped, 1 upgraded from v1") {
		t.Fatalf("clawd secrets rotate: %q", out)
	}
	if vs.Calls("rewrap") != 1 {
		t.Errorf("Vault saw %d rewraps, want 1", vs.Calls("rewrap"))
	}
	after, _ := storedSealedKey(t, st, "openai")
	e1, _ := secrets.ParseEnvelope(before)
	e2, err := secrets.ParseEnvelope(after)
	if err != nil || e2.Version != 2 || !bytes.Equal(e1.Sealed, e2.Sealed) || bytes.Equal(e1.WrappedDEK, e2.WrappedDEK) {
		t.Fatalf("after rotation etcd holds %s (was %s)", after, before)
	}
	if err := json.Unmarshal([]byte(d.mustClawd("secrets", "status", "-o", "json")), &status); err != nil || status.Formats["v2/vault/v2"] != 2 || status.Stale != 0 {
		t.Fatalf("status after rotation %+v %v", status, err)
	}

	// The rotation is in the cluster's audit chain, before and after.
	for deadline := time.Now().Add(15 * time.Second); ; {
		var recs []struct {
			Action, Outcome, Before, After string
		}
		out := d.mustClawd("audit", "query", "--cluster", "--event-type=admin", "-o", "json")
		if err := json.Unmarshal([]byte(out), &recs); err != nil {
			t.Fatalf("audit query: %v\n%s", err, out)
		}
		i := slices.IndexFunc(recs, func(r struct{ Action, Outcome, Before, After string }) bool {
			return r.Action == "POST /api/v1/secrets/rotate"
		})
		if i >= 0 {
			r := recs[i]
			if r.Outcome != "success" || !strings.Contains(r.Before, `"formats":{"v1":1,"v2/vault/v1":1}`) || !strings.Contains(r.After, `"formats":{"v2/vault/v2":2}`) {
				t.Fatalf("audit record of the rotation: %+v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit record of the rotation in 15s:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// A new process knows no data key: it unwraps the rewrapped one with
	// Vault, and the provider gets its key.
	d.stop()
	decrypts := vs.Calls("decrypt")
	d.start()
	d.mustClawd("config", "set", "namespaces.*.models.primary", "gpt-4o")
	d.mustClawd("namespace", "create", "vaulted", "--hostname=vaulted.localhost")
	d.waitPhase("vaulted", "Running", 2*time.Minute)
	code, text := d.chat("vaulted.localhost", "", false)
	if code != 200 || !strings.Contains(text, "fake provider") {
		t.Fatalf("chat after rotation and restart: %d %q", code, text)
	}
	calls := fp.Calls()
	if len(calls) == 0 || calls[len(calls)-1].Header.Get("Authorization") != "Bearer "+fakeProviderKey {
		t.Fatalf("the provider did not get its key after rotation: %d calls", len(calls))
	}
	if vs.Calls("decrypt") <= decrypts {
		t.Error("the restarted clawd opened the provider key without asking Vault")
	}
	if up, _ := storedSealedKey(t, st, "legacy"); !strings.HasPrefix(up, "v2:aes256gcm:vault:2:") {
		t.Fatalf("the v1 provider key after rotation: %.40s", up)
	}
	// The upgraded provider works too: the gateway re-reads its config.
	d.mustClawd("config", "set", "namespaces.*.models.primary", "legacy/legacy-model")
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _ := d.chat("vaulted.localhost", "", false)
		calls := fp.Calls()
		last := calls[len(calls)-1]
		if code == 200 && last.Model == "legacy-model" {
			if last.Header.Get("Authorization") != "Bearer "+fakeProviderKey {
				t.Fatalf("the upgraded provider sent Authorization %q", last.Header.Get("Authorization"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no call through the upgraded provider in 60s (last: %d, model %s)", code, last.Model)
		}
		time.Sleep(time.Second)
	}
}

// sealV1 seals as clawd did before envelopes: AES-256-GCM under the key in
// keyFile, "v1:" + base64(nonce‖ciphertext).
func sealV1(t *testing.T, keyFile, plain, context string) string {
	t.Helper()
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return "v1:" + base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(plain), []byte(context)))
}
