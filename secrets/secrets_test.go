package secrets

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal([]byte("sk-live-123"), "provider/openai")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "sk-live") {
		t.Fatalf("sealed value holds the plaintext: %s", sealed)
	}
	again, _ := b.Seal([]byte("sk-live-123"), "provider/openai")
	if again == sealed {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}
	got, err := b.Open(sealed, "provider/openai")
	if err != nil || string(got) != "sk-live-123" {
		t.Fatalf("open: %q, %v", got, err)
	}
	for name, tc := range map[string]struct{ sealed, ctx string }{
		"other context": {sealed, "provider/anthropic"},
		"tampered":      {sealed[:len(sealed)-4] + "AAAA", "provider/openai"},
		"no prefix":     {strings.TrimPrefix(sealed, "v1:"), "provider/openai"},
		"not base64":    {"v1:!!!", "provider/openai"},
		"short":         {"v1:AAAA", "provider/openai"},
	} {
		if _, err := b.Open(tc.sealed, tc.ctx); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err %v, want ErrOpen", name, err)
		}
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed, "provider/openai"); !errors.Is(err, ErrOpen) {
		t.Errorf("another key opened it: %v", err)
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
