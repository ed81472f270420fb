package billing

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifySignature(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	good := Sign(body, testSecret, now)
	for _, tc := range []struct {
		name    string
		payload []byte
		header  string
		ok      bool
	}{
		{"signed now", body, good, true},
		{"signed 4 minutes ago", body, Sign(body, testSecret, now.Add(-4*time.Minute)), true},
		{"a second v1 matches (secret rolled)", body, Sign(body, "whsec_old", now) + ",v1=" + strings.Split(good, "v1=")[1], true},
		{"tampered body", []byte(`{"id":"evt_1","type":"invoice.paid "}`), good, false},
		{"other secret", body, Sign(body, "whsec_other", now), false},
		{"stale: 6 minutes old", body, Sign(body, testSecret, now.Add(-6*time.Minute)), false},
		{"from the future", body, Sign(body, testSecret, now.Add(6*time.Minute)), false},
		{"timestamp changed", body, strings.Replace(good, "t=", "t=1", 1), false},
		{"no header", body, "", false},
		{"no v1", body, strings.Split(good, ",")[0], false},
		{"v0 only", body, strings.Replace(good, "v1=", "v0=", 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.payload, tc.header, testSecret, now)
			if tc.ok != (err == nil) {
				t.Fatalf("VerifySignature: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrSignature) {
				t.Fatalf("error %v is not ErrSignature", err)
			}
		})
	}
}
