package openclawcfg

import (
	"net"
	"net/netip"
	"sync"
)

// ForwardedFor is the X-Forwarded-For value clawd sends a gateway for a
// client at addr (an IP, with or without port). A trusted-proxy gateway
// refuses every request whose forwarded client is missing or a loopback
// address (proxy_attribution_required), because a loopback client would
// look like a process of the gateway's own host. A client on clawd's host
// is no such thing for a gateway in a container, so it is reported as the
// host's own address (HostAddress).
func ForwardedFor(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.IsLoopback() || ip.IsUnspecified() {
		return HostAddress()
	}
	return ip.Unmap().String()
}

// HostAddress is this host's primary IPv4 address: the source address of
// its default route, else its first non-loopback one. Probes clawd sends a
// gateway from the host carry it as their forwarded client.
var HostAddress = sync.OnceValue(func() string {
	// Connecting a UDP socket only picks a route; nothing is sent.
	if c, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		defer c.Close()
		if a, ok := c.LocalAddr().(*net.UDPAddr); ok && !a.IP.IsLoopback() && !a.IP.IsUnspecified() {
			return a.IP.String()
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	// A host with no address but loopback: any non-loopback address lets
	// the gateway attribute the request; this one is for documentation
	// (RFC 5737) and says so in its logs.
	return "192.0.2.1"
})
