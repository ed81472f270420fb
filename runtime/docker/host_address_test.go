package docker

import (
	"net"
	"testing"
)

// The address HostAddress gives is one the host listens on (the model
// gateway listens there; the integration tests show containers reach it).
func TestHostAddressIsTheHostOnTheBridge(t *testing.T) {
	r := newTestRuntime(t)
	addr, err := r.HostAddress(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		t.Fatalf("HostAddress %s is not an address of this host: %v", addr, err)
	}
	ln.Close()
	if !addr.Is4() || addr.IsLoopback() {
		t.Fatalf("HostAddress = %s, want the bridge's IPv4 address", addr)
	}
}
