package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clawd-dev/clawd/secrets/secretstest"
)

var testFields = []Field{
	{Kind: "provider keys", Prefix: "providers/", JSON: "sealedKey", Context: func(k string) string { return "provider/" + k }},
	{Kind: "login secrets", Prefix: "logins/", JSON: "sealedSecret", Context: func(k string) string { return "login/" + k }},
}

func record(t *testing.T, field, sealed string) []byte {
	b, err := json.Marshal(map[string]string{"name": "x", field: sealed})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sealedIn(t *testing.T, recs *secretstest.Records, key, field string) string {
	var m map[string]string
	if err := json.Unmarshal(recs.Get(key), &m); err != nil {
		t.Fatal(err)
	}
	return m[field]
}

func TestRotateFileSource(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "secrets.key")
	b, err := Load("", file)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(file)
	master, _ := decodeKey(string(raw))
	p1, _ := b.Seal([]byte("sk-openai"), "provider/openai")
	l1 := sealV1(t, master, []byte("oauth-secret"), "login/acme")
	recs := secretstest.NewRecords(map[string][]byte{
		"providers/openai": record(t, "sealedKey", p1),
		"logins/acme":      record(t, "sealedSecret", l1),
		"logins/empty":     []byte(`{"name":"empty"}`),
	})
	st, err := b.Status(ctx, recs, testFields)
	if err != nil || st.Version != 1 || st.Formats["v1"] != 1 || st.Formats["v2/file/v1"] != 1 || st.Stale != 1 {
		t.Fatalf("status before: %+v, %v", st, err)
	}

	rep, err := b.Rotate(ctx, recs, testFields)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Version != 2 || !rep.NewVersion || rep.Counts[Rewrapped] != 1 || rep.Counts[Upgraded] != 1 || len(rep.Failed) != 0 {
		t.Fatalf("report %+v", rep)
	}
	fi, err := os.Stat(file + ".2")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new key version file: %v %v", fi, err)
	}
	p2 := sealedIn(t, recs, "providers/openai", "sealedKey")
	e1, _ := ParseEnvelope(p1)
	e2, _ := ParseEnvelope(p2)
	if e2.Version != 2 || !bytes.Equal(e1.Sealed, e2.Sealed) || bytes.Equal(e1.WrappedDEK, e2.WrappedDEK) {
		t.Fatalf("rotation did not rewrap the data key alone: %s -> %s", p1, p2)
	}

	// A restart reads both versions; the old wrapping still opens too.
	again, err := Load("", file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sealed, ctx, want string }{
		{p2, "provider/openai", "sk-openai"},
		{p1, "provider/openai", "sk-openai"},
		{sealedIn(t, recs, "logins/acme", "sealedSecret"), "login/acme", "oauth-secret"},
	} {
		if got, err := again.Open(tc.sealed, tc.ctx); err != nil || string(got) != tc.want {
			t.Errorf("after restart %s: %q %v", Format(tc.sealed), got, err)
		}
	}
	if !bytes.Equal(again.Derive("modelgw-token"), b.Derive("modelgw-token")) {
		t.Error("rotation changed the derived token key")
	}
	if v, _ := again.Source().Current(ctx); v != 2 {
		t.Errorf("current version after restart %d", v)
	}
	st, _ = again.Status(ctx, recs, testFields)
	if st.Formats["v2/file/v2"] != 2 || st.Stale != 0 || st.Kinds["login secrets"] != 1 {
		t.Errorf("status after: %+v", st)
	}
	// A second rotation makes version 3 and rewraps both again.
	rep, _ = again.Rotate(ctx, recs, testFields)
	if rep.Version != 3 || rep.Counts[Rewrapped] != 2 {
		t.Errorf("second rotation %+v", rep)
	}
}

func TestRotateReportsBrokenRecords(t *testing.T) {
	ctx := context.Background()
	b, _ := Load("", filepath.Join(t.TempDir(), "k"))
	good, _ := b.Seal([]byte("a"), "provider/a")
	other, _ := New(bytes.Repeat([]byte{3}, KeySize))
	wrongCtx, _ := other.Seal([]byte("b"), "provider/b") // another key: its data key does not unwrap
	recs := secretstest.NewRecords(map[string][]byte{
		"providers/a": record(t, "sealedKey", good),
		"providers/b": record(t, "sealedKey", wrongCtx),
	})
	rep, err := b.Rotate(ctx, recs, testFields)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[Rewrapped] != 1 || len(rep.Failed) != 1 || !strings.Contains(rep.Failed["providers/b#sealedKey"], "does not decrypt") {
		t.Fatalf("report %+v", rep)
	}
	if sealedIn(t, recs, "providers/b", "sealedKey") != wrongCtx {
		t.Error("a record that failed was changed")
	}
}

func TestEnvSourceVersions(t *testing.T) {
	ctx := context.Background()
	k1 := strings.Repeat("01", KeySize)
	k2 := strings.Repeat("02", KeySize)
	b1, _ := Load(k1, "")
	sealed, _ := b1.Seal([]byte("s"), "provider/c")
	recs := secretstest.NewRecords(map[string][]byte{"providers/c": record(t, "sealedKey", sealed)})
	if _, err := b1.Rotate(ctx, recs, testFields); err != nil {
		t.Fatalf("rotation to the same env version: %v", err)
	}
	b2, err := Load(k1+","+k2, "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Derive("x"), b2.Derive("x")) {
		t.Error("adding an env key changed derived keys")
	}
	rep, err := b2.Rotate(ctx, recs, testFields)
	if err != nil || rep.Version != 2 || rep.NewVersion || rep.Counts[Rewrapped] != 1 {
		t.Fatalf("env rotation %+v %v", rep, err)
	}
	if got, err := b2.Open(sealedIn(t, recs, "providers/c", "sealedKey"), "providerc"); err == nil {
		t.Errorf("opened under the wrong context: %q", got)
	}
	if got, err := b2.Open(sealedIn(t, recs, "providers/c", "sealedKey"), "provider/c"); err != nil || string(got) != "s" {
		t.Errorf("after env rotation: %q %v", got, err)
	}
}

// TestRotateRawRecords: a record that is the sealed value itself (a
// wrapped volume key) is rewrapped in place.
func TestRotateRawRecords(t *testing.T) {
	ctx := context.Background()
	b, _ := Load("", filepath.Join(t.TempDir(), "k"))
	w, _ := b.Wrapper("", "")
	wrapped, _ := w.WrapKey(ctx, bytes.Repeat([]byte{1}, 32), "clawd/volume/acme")
	recs := secretstest.NewRecords(map[string][]byte{"volumekeys/acme": []byte(wrapped)})
	fields := []Field{{Kind: "volume keys", Prefix: "volumekeys/", Context: func(ns string) string { return "clawd/volume/" + ns }}}
	rep, err := b.Rotate(ctx, recs, fields)
	if err != nil || rep.Counts[Rewrapped] != 1 || rep.Kinds["volume keys"] != 1 {
		t.Fatalf("rotate %+v %v", rep, err)
	}
	after := string(recs.Get("volumekeys/acme"))
	if Format(after) != "v2/file/v2" {
		t.Fatalf("after: %s", after)
	}
	if got, err := w.UnwrapKey(ctx, after, "clawd/volume/acme"); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{1}, 32)) {
		t.Fatalf("unwrap after rotation: %v", err)
	}
	st, _ := b.Status(ctx, recs, fields)
	if st.Formats["v2/file/v2"] != 1 || st.Stale != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestWrapper(t *testing.T) {
	ctx := context.Background()
	b, _ := Load("", filepath.Join(t.TempDir(), "k"))
	w, err := b.Wrapper("local", "ChaCha20-Poly1305")
	if err != nil {
		t.Fatal(err)
	}
	volKey := bytes.Repeat([]byte{0xaa}, 64)
	wrapped, err := w.WrapKey(ctx, volKey, "volume/acme")
	if err != nil || !strings.HasPrefix(wrapped, "v2:chacha20poly1305:file:1:") {
		t.Fatalf("wrap: %s %v", wrapped, err)
	}
	if got, err := w.UnwrapKey(ctx, wrapped, "volume/acme"); err != nil || !bytes.Equal(got, volKey) {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := w.UnwrapKey(ctx, wrapped, "volume/other"); err == nil {
		t.Error("unwrapped under another namespace's context")
	}
	if _, err := b.Wrapper("vault", ""); err == nil || !strings.Contains(err.Error(), "--secrets.keySource") {
		t.Errorf("vault without vault: %v", err)
	}
	if _, err := b.Wrapper("", "DES"); err == nil {
		t.Error("unknown algorithm accepted")
	}

	// One wrapper for every namespace, each with its own choice.
	chosen := b.WrapperFor(func(c string) (string, string) {
		if c == "volume/vaulted" {
			return "vault", ""
		}
		return "local", "ChaCha20-Poly1305"
	})
	w2, err := chosen.WrapKey(ctx, volKey, "volume/acme")
	if err != nil || !strings.HasPrefix(w2, "v2:chacha20poly1305:file:") {
		t.Fatalf("chosen wrap: %.30s %v", w2, err)
	}
	if got, err := chosen.UnwrapKey(ctx, w2, "volume/acme"); err != nil || !bytes.Equal(got, volKey) {
		t.Fatalf("chosen unwrap: %v", err)
	}
	if _, err := chosen.WrapKey(ctx, volKey, "volume/vaulted"); err == nil || !strings.Contains(err.Error(), "keySource vault") {
		t.Errorf("a namespace asking for vault on a clawd without it: %v", err)
	}
}
