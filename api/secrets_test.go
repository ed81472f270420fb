package api

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/auth"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/provider"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/secrets/secretstest"
	"github.com/clawd-dev/clawd/secrets/vaulttest"
)

func TestSecretsRotateIsAudited(t *testing.T) {
	box, err := secrets.Load("", filepath.Join(t.TempDir(), "secrets.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := box.Seal([]byte("sk-1"), "provider/openai")
	recs := secretstest.NewRecords(map[string][]byte{"providers/openai": []byte(`{"name":"openai","sealedKey":"` + sealed + `"}`)})
	srv, w := auditServer(t, newMemStore())
	srv.cfg.SecretKeys = secrets.Keeper{Box: box, Records: recs, Fields: []secrets.Field{
		{Kind: "provider keys", Prefix: "providers/", JSON: "sealedKey", Context: func(k string) string { return "provider/" + k }}}}

	var st secrets.Status
	decodeInto(t, admin(t, srv, "GET", "/api/v1/secrets/status", ""), &st)
	if st.Source != "file" || st.Version != 1 || st.Formats["v2/file/v1"] != 1 || st.Kinds["provider keys"] != 1 {
		t.Fatalf("status %+v", st)
	}
	rec := admin(t, srv, "POST", "/api/v1/secrets/rotate", "")
	var rep secrets.RotateReport
	decodeInto(t, rec, &rep)
	if rec.Code != 200 || rep.Version != 2 || rep.Counts[secrets.Rewrapped] != 1 {
		t.Fatalf("rotate: %d %s", rec.Code, rec.Body)
	}
	var after map[string]string
	json.Unmarshal(recs.Get("providers/openai"), &after)
	if got, err := box.Open(after["sealedKey"], "provider/openai"); err != nil || string(got) != "sk-1" {
		t.Fatalf("after rotation: %q %v", got, err)
	}
	list := records(t, srv, w, "type=admin")
	if len(list) != 1 || list[0].Action != "POST /api/v1/secrets/rotate" || list[0].Target != "secrets" ||
		!strings.Contains(list[0].Before, `"version":1,"formats":{"v2/file/v1":1}`) || !strings.Contains(list[0].After, `"version":2,"formats":{"v2/file/v2":1}`) {
		t.Fatalf("audit records %+v", list)
	}
	if strings.Contains(list[0].Before+list[0].After, "sk-1") {
		t.Error("the audit record holds the secret")
	}

	bare := New(Config{Token: adminToken}, newMemStore(), nil)
	wantProblem(t, admin(t, bare, "POST", "/api/v1/secrets/rotate", ""), 409, "keeps no secrets")
}

// TestSealSecretAlgorithm: a namespace's secrets follow its
// encryption.algorithm; clawd's own stay AES-256-GCM.
func TestSealSecretAlgorithm(t *testing.T) {
	box, _ := secrets.New(bytes.Repeat([]byte{5}, secrets.KeySize))
	st := &loginStore{memStore: newMemStore(namespace.Spec{Name: "tenant-a"}), logins: map[string]auth.Login{}}
	srv := New(Config{Token: adminToken, Secrets: box}, st, nil)
	st.SetConfig(context.Background(), "namespaces.tenant-a.encryption.algorithm", "ChaCha20-Poly1305")
	rec := admin(t, srv, "PUT", "/api/v1/namespaces/tenant-a/auth",
		`{"provider":"oidc","issuer":"https://idp.example.com","clientId":"cid","clientSecret":"s3","callbackUrl":"https://a.example.com/cb"}`)
	if rec.Code != 200 {
		t.Fatalf("configure: %d %s", rec.Code, rec.Body)
	}
	l := st.logins["tenant-a"]
	if !strings.HasPrefix(l.SealedSecret, "v2:chacha20poly1305:file:1:") {
		t.Fatalf("login secret sealed as %.40s", l.SealedSecret)
	}
	if got, err := box.Open(l.SealedSecret, auth.SecretContext("tenant-a")); err != nil || string(got) != "s3" {
		t.Fatalf("open: %q %v", got, err)
	}
	sealed, err := srv.sealSecret(context.Background(), "", "provider key", []byte("k"), "provider/x")
	if err != nil || !strings.HasPrefix(sealed, "v2:aes256gcm:") {
		t.Fatalf("clawd's own secret: %.30s %v", sealed, err)
	}
}

// TestProviderAddWithVaultDown: Vault's failure is the operator's to fix,
// said in one line (502), and nothing is stored.
func TestProviderAddWithVaultDown(t *testing.T) {
	vs := vaulttest.New("transit", "tok")
	vs.CreateKey("clawd")
	hs := vs.Start(t)
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("tok"), 0o600)
	box, err := secrets.Open(context.Background(), secrets.Options{Source: "vault", KeyFile: filepath.Join(dir, "k"),
		Vault: secrets.VaultConfig{Address: hs.URL, TokenFile: tok, Key: "clawd"}})
	if err != nil {
		t.Fatal(err)
	}
	st := &fakeProviderStore{providers: map[string]provider.Provider{}, config: map[string]string{}}
	srv := New(Config{Token: adminToken, Secrets: box}, st, nil)
	hs.Close()
	rec := admin(t, srv, "POST", "/api/v1/providers", `{"name":"openai","api":"openai-completions","baseUrl":"https://api.openai.com/v1","apiKey":"sk-1","models":["gpt-4o"]}`)
	wantProblem(t, rec, 502, "sealing the provider key: vault datakey: vault is unreachable at "+hs.URL)
	if len(st.providers) != 0 {
		t.Errorf("stored %v", st.providers)
	}
}
