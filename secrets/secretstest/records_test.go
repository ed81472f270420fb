package secretstest

import (
	"context"
	"errors"
	"testing"
)

// TestRecordsUpdate: an update that fails or answers nil leaves the
// record as it was; a listing strips the prefix.
func TestRecordsUpdate(t *testing.T) {
	ctx := context.Background()
	r := NewRecords(map[string][]byte{"p/a": []byte("1")})
	r.UpdateRecord(ctx, "p/", "a", func([]byte) ([]byte, error) { return []byte("x"), errors.New("no") })
	r.UpdateRecord(ctx, "p/", "a", func([]byte) ([]byte, error) { return nil, nil })
	if got := string(r.Get("p/a")); got != "1" {
		t.Fatalf("after failed updates %q", got)
	}
	if err := r.UpdateRecord(ctx, "p/", "b", func(old []byte) ([]byte, error) { return append(old, '2'), nil }); err != nil {
		t.Fatal(err)
	}
	m, _ := r.ListRecords(ctx, "p/")
	if len(m) != 2 || string(m["a"]) != "1" || string(m["b"]) != "2" {
		t.Fatalf("list %q", m)
	}
}
