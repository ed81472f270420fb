package apikey

import (
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewSecret(t *testing.T) {
	re := regexp.MustCompile(`^sk-tenant-a-[0-9a-zA-Z]{33}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		s, err := NewSecret("tenant-a")
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(s) {
			t.Fatalf("secret %q does not match %s", s, re)
		}
		if seen[s] {
			t.Fatalf("secret %q generated twice", s)
		}
		seen[s] = true
	}
}

// The random part must carry at least 128 bits: its base62 digits must
// decode to a number that can use the full 192 bits.
func TestSecretEntropy(t *testing.T) {
	maxBits := 0
	var ones [192]int
	const n = 2000
	for i := 0; i < n; i++ {
		s, _ := NewSecret("x")
		v, ok := new(big.Int).SetString(strings.TrimPrefix(s, "sk-x-"), 62)
		if !ok {
			t.Fatalf("random part of %q is not base62", s)
		}
		maxBits = max(maxBits, v.BitLen())
		for b := range ones {
			ones[b] += int(v.Bit(b))
		}
	}
	if maxBits < 128 || maxBits > 192 {
		t.Fatalf("largest random part has %d bits, want 128..192", maxBits)
	}
	// Every bit position is set about half the time; a stuck bit would
	// mean fewer random bits than claimed. 2000 draws make 35%..65% a
	// bound no fair bit crosses in practice.
	for b, c := range ones {
		if c < n*35/100 || c > n*65/100 {
			t.Errorf("bit %d set in %d of %d secrets", b, c, n)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id, err := NewID()
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidID(id); err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("id %s generated twice", id)
		}
		seen[id] = true
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"key_0123456789", true},
		{"key_abcdeFGHIJ", true},
		{"key_012345678", false},
		{"key_01234567890", false},
		{"key_01234-6789", false},
		{"kee_0123456789", false},
		{"key_../../x/ab", false},
		{"", false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			err := ValidID(tc.id)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
			}
		})
	}
}

func TestHash(t *testing.T) {
	s := "sk-a-000000000000000000000000000000001"
	sum := sha256.Sum256([]byte(s))
	if got, want := Hash(s), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("Hash = %s, want %s", got, want)
	}
	if Hash(s) == Hash(s+"x") {
		t.Fatal("different secrets hash alike")
	}
}

func TestNew(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.FixedZone("CST", 8*3600))
	k, secret, err := New("tenant-a", "tenant-a-production", "1000/hour", 365*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if k.Hash != Hash(secret) {
		t.Error("record hash is not the secret's hash")
	}
	if strings.Contains(k.Hash, secret) || k.Prefix == secret {
		t.Error("record holds the secret")
	}
	if !strings.HasPrefix(secret, k.Prefix) || k.Prefix != secret[:len("sk-tenant-a-")+6] {
		t.Errorf("prefix %q is not the secret's start plus 6 random characters", k.Prefix)
	}
	if k.Namespace != "tenant-a" || k.Name != "tenant-a-production" || k.RateLimit != "1000/hour" {
		t.Errorf("record = %+v", k)
	}
	if k.CreatedAt.Location() != time.UTC || !k.ExpiresAt.Equal(now.Add(365*24*time.Hour)) {
		t.Errorf("created %v expires %v", k.CreatedAt, k.ExpiresAt)
	}

	forever, _, _ := New("b", "", "", 0, now)
	if !forever.ExpiresAt.IsZero() {
		t.Errorf("ttl 0 gave expiry %v", forever.ExpiresAt)
	}
}

func TestStateAt(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		key  Key
		want State
	}{
		{"no expiry", Key{}, StateActive},
		{"expires later", Key{ExpiresAt: now.Add(time.Second)}, StateActive},
		{"expires now", Key{ExpiresAt: now}, StateExpired},
		{"expired", Key{ExpiresAt: now.Add(-time.Second)}, StateExpired},
		{"revoked", Key{RevokedAt: now.Add(-time.Hour)}, StateRevoked},
		{"revoked and expired", Key{RevokedAt: now, ExpiresAt: now.Add(-time.Hour)}, StateRevoked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.key.StateAt(now); got != tc.want {
				t.Fatalf("StateAt = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDisplayPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"sk-my-ns-2-0abcdefghijklmnopqrstuvwxyzABCDEF": "sk-my-ns-2-0abcde",
		"sk-short":                        "sk-short",
		"not-a-clawd-key-but-long-enough": "not-a-clawd-",
	} {
		if got := DisplayPrefix(in); got != want {
			t.Errorf("DisplayPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
