package docker

import (
	"net"
	"net/netip"
	"testing"
)

func TestParseSubnetPool(t *testing.T) {
	tests := []struct {
		pool    string
		bits    int
		want    subnetPool
		wantErr bool
	}{
		{pool: "", want: subnetPool{}},
		{pool: "10.213.0.0/16", want: subnetPool{pool: netip.MustParsePrefix("10.213.0.0/16"), bits: 28}},
		{pool: "10.213.7.9/16", bits: 24, want: subnetPool{pool: netip.MustParsePrefix("10.213.0.0/16"), bits: 24}},
		{pool: "10.213.0.0/16", bits: 12, wantErr: true},
		{pool: "10.213.0.0/16", bits: 31, wantErr: true},
		{pool: "fd00::/64", wantErr: true},
		{pool: "nonsense", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.pool, func(t *testing.T) {
			got, err := parseSubnetPool(tt.pool, tt.bits)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := New(Config{ClusterID: "c", SubnetPool: "bad"}); err == nil {
		t.Error("New accepted a bad subnet pool")
	}
}

func TestSubnetPoolPick(t *testing.T) {
	p, err := parseSubnetPool("10.213.0.0/26", 28) // four /28s
	if err != nil {
		t.Fatal(err)
	}
	if p.size() != 4 {
		t.Fatalf("size = %d", p.size())
	}
	if got := p.nth(3); got != netip.MustParsePrefix("10.213.0.48/28") {
		t.Fatalf("nth(3) = %s", got)
	}
	var used []netip.Prefix
	seen := map[netip.Prefix]bool{}
	for range 4 {
		s, ok := p.pick("clawd-x-acme-net", used)
		if !ok || seen[s] || !p.pool.Contains(s.Addr()) || s.Bits() != 28 {
			t.Fatalf("pick = %s, %v (used %v)", s, ok, used)
		}
		seen[s] = true
		used = append(used, s)
	}
	if s, ok := p.pick("clawd-x-acme-net", used); ok {
		t.Fatalf("picked %s from a full pool", s)
	}
	// A foreign network covering part of the pool is avoided.
	s, ok := p.pick("n", []netip.Prefix{netip.MustParsePrefix("10.213.0.0/27")})
	if !ok || s.Addr().As4()[3] < 32 {
		t.Fatalf("pick beside a /27 = %s, %v", s, ok)
	}
}

func TestHostSubnetsAreInUse(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	got := hostSubnets()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil || ipn.IP.IsLoopback() {
			continue
		}
		ip, _ := netip.AddrFromSlice(ipn.IP.To4())
		found := false
		for _, p := range got {
			found = found || p.Contains(ip)
		}
		if !found {
			t.Errorf("interface address %s is in no subnet hostSubnets returned (%v)", ipn, got)
		}
	}
	pool, _ := parseSubnetPool("10.213.0.0/16", 28)
	for _, p := range got {
		if !pool.pool.Overlaps(p) {
			continue
		}
		if pick, ok := pool.pick("x", got); ok && pick.Overlaps(p) {
			t.Errorf("picked %s, which overlaps the host's %s", pick, p)
		}
	}
}
