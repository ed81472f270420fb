package router

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// peerRecorder is a recorder that also hears of requests served for a
// peer, as the audit does.
type peerRecorder struct{ recorder }

func (*peerRecorder) ObservesPeerServed() {}

// A request another node forwarded is served here, and only the
// PeerServedObservers hear of it, with the key and user the forwarding
// node authenticated; the access log and the metrics heard of it there.
// Without a client certificate the peer listener refuses it (403).
func TestHandlePeerObservers(t *testing.T) {
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	go func() { _ = gw.Serve(gln) }()
	t.Cleanup(func() { _ = gw.Shutdown() })

	w := &hostWatcher{ns: make(chan store.Event, 1)}
	w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{nsAt("gw", namespace.PhaseRunning, gln.Addr().String(), "gw.example")}}
	r := New(nil)
	plain, served := &recorder{}, &peerRecorder{}
	r.Observe(plain, served)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx, w)
	<-r.Ready()

	serverTLS, clientTLS := testPeerTLS(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	srv := r.PeerServer(Limits{})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	do := func(cfg *tls.Config) int {
		t.Helper()
		c := &fasthttp.HostClient{Addr: ln.Addr().String(), IsTLS: true, TLSConfig: cfg}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("https://gw.example/healthz")
		req.Header.Set(peerNamespace, "gw")
		req.Header.Set(peerKeyID, "k1")
		req.Header.Set(peerClient, "192.0.2.7")
		if err := c.DoTimeout(req, resp, 10*time.Second); err != nil {
			t.Logf("request: %v", err)
			return 0 // refused in the handshake
		}
		return resp.StatusCode()
	}
	if got := do(clientTLS); got != 200 {
		t.Fatalf("a forwarded request: status %d, want 200", got)
	}
	anon := clientTLS.Clone()
	anon.Certificates = nil
	if got := do(anon); got == 200 {
		t.Fatalf("without a client certificate: status %d, want refused", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		reqs, _ := served.snapshot()
		if len(reqs) >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	reqs, _ := served.snapshot()
	if len(reqs) != 1 || reqs[0].Namespace != "gw" || reqs[0].KeyID != "k1" || reqs[0].Status != 200 {
		t.Fatalf("the peer-served observer heard %+v, want one request of gw by key k1, 200", reqs)
	}
	if got, _ := plain.snapshot(); len(got) != 0 {
		t.Fatalf("the other observers heard %d requests served for a peer, want 0 (the forwarding node tells its own)", len(got))
	}
}

// testPeerTLS makes a CA and one certificate from it, as package peer
// does: the listener's config (a client certificate of the CA required)
// and the dialer's.
func testPeerTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "n1"}, DNSNames: []string{"clawd-peer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{Certificates: []tls.Certificate{leaf}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS13},
		&tls.Config{Certificates: []tls.Certificate{leaf}, RootCAs: pool, ServerName: "clawd-peer", MinVersion: tls.VersionTLS13}
}
