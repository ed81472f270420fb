package supervisor

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/clawd-dev/clawd/namespace"
)

// routerRuntime is a writingRuntime that knows the router's address on
// each namespace's network.
type routerRuntime struct {
	*writingRuntime
}

var _ RouterAddresser = routerRuntime{}

func (routerRuntime) RouterAddress(_ context.Context, ns string) (netip.Addr, error) {
	return netip.MustParseAddr("10.213.7.1"), nil
}

// A gateway trusts only the router's address on its network, not the
// subnet pool (which holds the gateway's own address): a tool inside it
// that sends the user header is anonymous.
func TestGatewayTrustsOnlyTheRouter(t *testing.T) {
	log := &opLog{}
	rt := routerRuntime{newWritingRuntime(log)}
	rt.setBehaviour("alpha", runsAt(readyGateway(t)))
	st := newFakeStore(log, spec("alpha"))
	runSupervisor(t, configTestConfig(), rt, st)
	waitPhase(t, st, "alpha", namespace.PhaseRunning)

	got := decodeConfig(t, rt.written("alpha")[0]).Gateway.TrustedProxies
	if want := []string{"10.213.7.1"}; !slices.Equal(got, want) {
		t.Fatalf("trustedProxies = %v, want %v", got, want)
	}
}
