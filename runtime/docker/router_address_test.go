package docker

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// RouterAddress is the host's address on the namespace's network, where
// the router's connections to the gateway come from: the endpoint's
// gateway, known before the first start. A gateway adopted from the warm
// pool has the address its spare was told before it was made, which its
// config has trusted since it booted.
func TestRouterAddress(t *testing.T) {
	r := newTestRuntime(t)
	image := testImage(t, r.api)
	ctx := ctxT(t)

	if _, err := r.RouterAddress(ctx, "none"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("router address without a network: %v, want not found", err)
	}

	check := func(t *testing.T, ns string) {
		t.Helper()
		addr, err := r.RouterAddress(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.api.ContainerInspect(ctx, r.containerName(ns), client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ep := res.Container.NetworkSettings.Networks[r.networkName(ns)]
		if ep == nil || ep.Gateway != addr {
			t.Fatalf("router address %s, container endpoint %+v", addr, ep)
		}
		if !r.subnets.pool.Contains(addr) || ep.IPAddress == addr {
			t.Fatalf("router address %s: not in the pool %s, or the gateway's own", addr, r.subnets.pool)
		}
	}

	t.Run("created", func(t *testing.T) {
		if _, err := r.Create(ctx, testSpec("ra", image)); err != nil {
			t.Fatal(err)
		}
		before, err := r.RouterAddress(ctx, "ra")
		if err != nil || !before.IsValid() {
			t.Fatalf("before the first start: %v %v", before, err)
		}
		if err := r.Start(ctx, "ra"); err != nil {
			t.Fatal(err)
		}
		check(t, "ra")
	})
	t.Run("adopted", func(t *testing.T) {
		told, err := r.SpareRouterAddress(ctx, "rs")
		if err != nil || !r.subnets.pool.Contains(told) {
			t.Fatalf("spare router address %v, %v; want one in the pool", told, err)
		}
		if _, err := r.CreateSpare(ctx, "rs", spareSpec(image)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Adopt(ctx, "rs", adoptSpec("rb", image)); err != nil {
			t.Fatal(err)
		}
		check(t, "rb")
		if addr, _ := r.RouterAddress(ctx, "rb"); addr != told {
			t.Fatalf("router address of the adopted gateway %s, want %s, the one its spare trusted", addr, told)
		}
	})
}

// The namespace's network of an adopted spare is made with the subnet the
// spare's had when it is free, and with another when it is not; a subnet
// held for an adoption is picked by no other create.
func TestNetworkWithAPreferredSubnet(t *testing.T) {
	r := newTestRuntime(t)
	ctx := ctxT(t)
	subnetOf := func(ns, id string) netip.Prefix {
		t.Helper()
		_, subnet, err := r.bridgeAddress(ctx, id, r.networkName(ns))
		if err != nil {
			t.Fatal(err)
		}
		return subnet
	}
	id1, err := r.ensureNetwork(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	taken := subnetOf("p1", id1)

	id2, err := r.ensureGatewayNetwork(ctx, r.namespaceGateway("p2"), taken)
	if err != nil {
		t.Fatalf("preferring a taken subnet: %v", err)
	}
	if got := subnetOf("p2", id2); got == taken || !r.subnets.pool.Contains(got.Addr()) {
		t.Fatalf("preferring the taken %s got %s, want another of the pool", taken, got)
	}

	if err := r.removeNetworks(ctx, r.log, r.networkName("p1"), func(err error) error { return err }); err != nil {
		t.Fatal(err)
	}
	// A namespace whose network would get the free subnet, were it not held.
	used, err := r.subnetsInUse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rival := ""
	for i := 0; i < 100000 && rival == ""; i++ {
		if got, _ := r.subnets.pick(r.networkName(fmt.Sprint("h", i)), used); got == taken {
			rival = fmt.Sprint("h", i)
		}
	}
	if rival == "" {
		t.Fatal("no name picks the free subnet")
	}
	r.held.Store(taken, struct{}{})
	id, err := r.ensureNetwork(ctx, rival)
	if err != nil {
		t.Fatal(err)
	}
	if got := subnetOf(rival, id); got == taken {
		t.Fatalf("%s got the held subnet %s", rival, got)
	}
	id3, err := r.ensureGatewayNetwork(ctx, r.namespaceGateway("p3"), taken)
	r.held.Delete(taken)
	if err != nil {
		t.Fatal(err)
	}
	if got := subnetOf("p3", id3); got != taken {
		t.Fatalf("preferring the free %s got %s", taken, got)
	}
}
