package docker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// DefaultSubnetPrefixLen sizes each namespace network carved from
// Config.SubnetPool: a /28 holds the gateway container with room to spare,
// and a /16 pool gives 4096 namespaces.
const DefaultSubnetPrefixLen = 28

// subnetAttempts bounds the retries when a racing create takes the subnet
// we picked.
const subnetAttempts = 8

// errPoolsExhausted explains Docker's refusal once its default address pools
// are used up: a stock engine has about 30 of them, one per bridge network.
var errPoolsExhausted = errors.New("the engine's default address pools are used up (one per namespace network); set the runtime's subnet pool, or default-address-pools in daemon.json")

// subnetPool is the parsed Config.SubnetPool; the zero value means "let
// Docker choose".
type subnetPool struct {
	pool netip.Prefix
	bits int
}

func parseSubnetPool(pool string, bits int) (subnetPool, error) {
	if pool == "" {
		return subnetPool{}, nil
	}
	p, err := netip.ParsePrefix(pool)
	if err != nil {
		return subnetPool{}, fmt.Errorf("subnet pool %q: %w", pool, err)
	}
	if !p.Addr().Is4() {
		return subnetPool{}, fmt.Errorf("subnet pool %q: only IPv4 pools are supported", pool)
	}
	if bits == 0 {
		bits = DefaultSubnetPrefixLen
	}
	// /30 is the smallest network with a gateway and one container.
	if bits < p.Bits() || bits > 30 {
		return subnetPool{}, fmt.Errorf("subnet prefix length /%d does not fit pool %s (want /%d to /30)", bits, p, p.Bits())
	}
	return subnetPool{pool: p.Masked(), bits: bits}, nil
}

func (p subnetPool) enabled() bool { return p.pool.IsValid() }

// size is the number of subnets in the pool, capped so the search stays
// cheap for huge pools.
func (p subnetPool) size() uint32 {
	return 1 << min(p.bits-p.pool.Bits(), 20)
}

// nth returns the i-th subnet of the pool.
func (p subnetPool) nth(i uint32) netip.Prefix {
	base := p.pool.Addr().As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	n += i << (32 - p.bits)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), p.bits)
}

// pick returns a subnet of the pool that overlaps none in use. The search
// starts at a point derived from the network name, so concurrent creates of
// different namespaces rarely race for the same subnet.
func (p subnetPool) pick(name string, used []netip.Prefix) (netip.Prefix, bool) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	size := p.size()
	start := h.Sum32() % size
	for i := range size {
		cand := p.nth((start + i) % size)
		free := true
		for _, u := range used {
			if u.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return cand, true
		}
	}
	return netip.Prefix{}, false
}

// createNetwork creates a gateway's bridge network, in a subnet of the pool
// when one is configured, and returns its id.
func (r *Runtime) createNetwork(ctx context.Context, name string, labels map[string]string, prefer netip.Prefix) (string, error) {
	opts := client.NetworkCreateOptions{Driver: "bridge", Labels: labels}
	// Subnets refused as taken: the engine reserves a pool before the
	// network shows up in lists, so a relist alone would pick it again.
	var taken []netip.Prefix
	if prefer.IsValid() && r.subnets.enabled() && !r.subnets.pool.Overlaps(prefer) {
		prefer = netip.Prefix{} // from before the pool changed
	}
	for attempt := range subnetAttempts {
		var subnet netip.Prefix
		opts.IPAM = nil
		if attempt == 0 && prefer.IsValid() {
			subnet = prefer
			opts.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet}}}
		} else if r.subnets.enabled() {
			used, err := r.subnetsInUse(ctx)
			if err != nil {
				return "", err
			}
			var ok bool
			subnet, ok = r.subnets.pick(name, append(used, taken...))
			if !ok {
				return "", fmt.Errorf("subnet pool %s has no free /%d left", r.subnets.pool, r.subnets.bits)
			}
			opts.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet}}}
		}
		var res client.NetworkCreateResult
		err := r.do(ctx, func(ctx context.Context) error {
			var err error
			res, err = r.api.NetworkCreate(ctx, name, opts)
			return err
		})
		switch {
		case err == nil:
			return res.ID, nil
		case subnet.IsValid() && strings.Contains(err.Error(), "overlaps"):
			// Taken by a concurrent create since we listed. If that was a
			// create of this very network, let the caller adopt it.
			taken = append(taken, subnet)
			if mine, _, lerr := r.networksNamed(ctx, name); lerr == nil && len(mine) > 0 {
				return "", fmt.Errorf("network %s created concurrently: %w", name, cerrdefs.ErrConflict)
			}
			continue
		case strings.Contains(err.Error(), "non-overlapping"):
			return "", fmt.Errorf("%w: %w", errPoolsExhausted, err)
		}
		return "", err
	}
	return "", fmt.Errorf("no free subnet in pool %s after %d attempts", r.subnets.pool, subnetAttempts)
}

// subnetsInUse lists the IPv4 subnets of every network on the engine, ours
// or not, since Docker refuses overlapping pools.
func (r *Runtime) subnetsInUse(ctx context.Context) ([]netip.Prefix, error) {
	var res client.NetworkListResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.NetworkList(ctx, client.NetworkListOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing networks for a free subnet: %w", err)
	}
	var used []netip.Prefix
	r.held.Range(func(k, _ any) bool {
		used = append(used, k.(netip.Prefix))
		return true
	})
	for _, n := range res.Items {
		for _, c := range n.IPAM.Config {
			if c.Subnet.IsValid() {
				used = append(used, c.Subnet)
			}
		}
	}
	return append(used, hostSubnets()...), nil
}

// hostSubnets are the IPv4 subnets of this host's interfaces: a bridge the
// engine no longer knows (left behind by a crashed engine), a VPN or the
// LAN. A namespace network in one of them would share its route, and the
// gateway would be unreachable ("no route to host"). With a remote engine
// they only rule out a few more subnets.
func hostSubnets() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ones, _ := ipn.Mask.Size()
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok || !ip.Unmap().Is4() || ip.IsLoopback() {
			continue
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones).Masked())
	}
	return out
}
