package docker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// fakeIptables keeps rules as "CHAIN args…" strings.
type fakeIptables struct{ rules []string }

func (f *fakeIptables) run(_ context.Context, args ...string) ([]byte, error) {
	rule := strings.Join(args[1:], " ")
	switch args[0] {
	case "-C":
		if slices.Contains(f.rules, rule) {
			return nil, nil
		}
		return []byte("iptables: Bad rule"), errors.New("exit status 1")
	case "-I":
		f.rules = append(f.rules, rule)
		return nil, nil
	}
	return nil, errors.New("unexpected " + args[0])
}

func TestBlockMetadata(t *testing.T) {
	r := newRuntime(nil, Config{ClusterID: "c1"})
	var err error
	if r.subnets, err = parseSubnetPool("10.213.0.0/16", 0); err != nil {
		t.Fatal(err)
	}
	f := &fakeIptables{}
	r.iptables = f.run
	for range 2 { // idempotent: a second start adds nothing
		if err := r.BlockMetadata(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"DOCKER-USER -s 10.213.0.0/16 -d 169.254.0.0/16 -j REJECT",
		"INPUT -s 10.213.0.0/16 -d 169.254.0.0/16 -j REJECT",
	}
	if !slices.Equal(f.rules, want) {
		t.Errorf("rules = %q, want %q", f.rules, want)
	}

	if err := newRuntime(nil, Config{ClusterID: "c1"}).BlockMetadata(context.Background()); err == nil {
		t.Error("no error without a subnet pool")
	}
}
