package router

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"runtime"
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
	gln := serveBody(t, "ok")

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
func testPeerTLS(t testing.TB) (server, client *tls.Config) {
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

// tlsPeers dials one peer listener over mutual TLS, as package peer does.
type tlsPeers struct {
	addr string
	cfg  *tls.Config
}

func (p tlsPeers) Dial(_ string, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: p.cfg}
	return d.Dial("tcp", p.addr)
}

func (p tlsPeers) Known(string) bool { return true }

// The cost of the hop: a request reaching node C for a namespace on node
// A, forwarded over mutual TLS to A's peer listener, both routers with an
// access log; beside the same request served on A
// (go test -bench ForwardPeer -benchmem ./router; compare the two).
func BenchmarkForwardPeer(b *testing.B) {
	gln := serveBody(b, `{"ok":true}`)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)

	ns := nsAt("gw", namespace.PhaseRunning, gln.Addr().String(), "gw.example")
	ns.Spec.Node = "a"
	node := func(name string, peers PeerDialer) *Router {
		w := &hostWatcher{ns: make(chan store.Event, 1)}
		w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{ns}}
		r := New(nil)
		l := NewAccessLog(io.Discard)
		go l.Run(ctx, time.Second)
		r.Observe(l)
		r.SetPeers(name, peers)
		go r.Run(ctx, w)
		<-r.Ready()
		return r
	}
	serverTLS, clientTLS := testPeerTLS(b)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		b.Fatal(err)
	}
	a := node("a", tlsPeers{})
	srv := a.PeerServer(Limits{})
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	c := node("c", tlsPeers{addr: ln.Addr().String(), cfg: clientTLS})

	for _, tc := range []struct {
		name string
		r    *Router
	}{{"own node", a}, {"via a peer", c}} {
		b.Run(tc.name, func(b *testing.B) {
			benchHealthz(b, serveRouter(b, tc.r, Limits{}))
		})
	}
}

// A request held on the serving node while its namespace wakes is logged
// on the forwarding node with that wait; the header that carries it
// across the hop never reaches the client.
func TestPeerWakeWaited(t *testing.T) {
	gln := serveBody(t, "ok")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	ns := nsAt("sleepy", namespace.PhaseStopped, "", "sleepy.test")
	ns.Spec.Node = "a"
	serverTLS, clientTLS := testPeerTLS(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	node := func(name string, peers PeerDialer, rec Observer) *Router {
		w := &hostWatcher{ns: make(chan store.Event, 1)}
		w.ns <- store.Event{Type: store.EventReset, Snapshot: []namespace.Namespace{ns}}
		r := New(nil)
		r.Observe(rec)
		r.SetPeers(name, peers)
		go r.Run(ctx, w)
		<-r.Ready()
		return r
	}
	a := node("a", tlsPeers{}, &recorder{})
	wk := &gatedWaker{addr: gln.Addr().String(), open: make(chan struct{})}
	wk.calls.Add(1)
	a.Lifecycle(wk, nil, 10*time.Second)
	srv := a.PeerServer(Limits{})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	rec := &recorder{}
	c := node("c", tlsPeers{addr: ln.Addr().String(), cfg: clientTLS}, rec)
	url := serveRouter(t, c, Limits{})

	go func() {
		wk.calls.Wait() // held on node a
		time.Sleep(30 * time.Millisecond)
		close(wk.open)
	}()
	req, _ := http.NewRequest("GET", url+"/", nil)
	req.Host = "sleepy.test"
	resp := record(t, req)
	if resp.Code != 200 || resp.Header().Get(peerWaited) != "" {
		t.Fatalf("held request via a peer: %d, %s: %q, want 200 without it", resp.Code, peerWaited, resp.Header().Get(peerWaited))
	}
	reqs, _ := rec.snapshot()
	if len(reqs) != 1 || reqs[0].Peer != "a" || reqs[0].WakeWaited < 30*time.Millisecond {
		t.Fatalf("node c observed %+v, want one request forwarded to a, held ≥ 30ms", reqs)
	}
}

// serveBody runs a gateway stand-in answering every request with body; it
// returns its listener.
func serveBody(tb testing.TB, body string) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	gw := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(body) }}
	go func() { _ = gw.Serve(ln) }()
	tb.Cleanup(func() { _ = gw.Shutdown() })
	return ln
}

// benchHealthz sends GET /healthz for gw.example to the router at url
// from parallel clients, each request expected to answer 200.
func benchHealthz(b *testing.B, url string) {
	c := &fasthttp.HostClient{Addr: url[len("http://"):], MaxConns: 64}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://gw.example/healthz")
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("%v %d", err, resp.StatusCode())
			}
		}
	})
}

// The protocol between nodes, alone: 64 requests in flight over mutual
// TLS, the reply a healthz body, client and server in this process (ns/op
// is the time a request takes both sides on the cores given). HTTP/1.1 on
// fasthttp (what the peer hop uses) beside HTTP/2 on net/http (what
// multiplexing several requests per write would take) and plain HTTP/1.1
// (no TLS): go test -bench PeerProtocol -cpu 1,2 -benchmem ./router.
func BenchmarkPeerProtocol(b *testing.B) {
	body := []byte(`{"ok":true,"status":"live"}`)
	serverTLS, clientTLS := testPeerTLS(b)
	listen := func(b *testing.B, cfg *tls.Config) net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = ln.Close() })
		if cfg != nil {
			return tls.NewListener(ln, cfg)
		}
		return ln
	}
	// fasthttpPair: the peer hop's client and server, over TLS unless cfg
	// is nil.
	fasthttpPair := func(b *testing.B, cfg *tls.Config) func() error {
		ln := listen(b, cfg)
		srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
		go func() { _ = srv.Serve(ln) }()
		b.Cleanup(func() { _ = srv.Shutdown() })
		c := &fasthttp.HostClient{Addr: ln.Addr().String(), IsTLS: cfg != nil, TLSConfig: clientTLS, MaxConns: 1024}
		url := "http://clawd-peer/healthz"
		if cfg != nil {
			url = "https://clawd-peer/healthz"
		}
		return func() error {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(url)
			return c.Do(req, resp)
		}
	}
	for _, tc := range []struct {
		name string
		do   func(b *testing.B) func() error
	}{
		{"http1.1 fasthttp tls", func(b *testing.B) func() error { return fasthttpPair(b, serverTLS) }},
		{"http2 net/http tls", func(b *testing.B) func() error {
			scfg, ccfg := serverTLS.Clone(), clientTLS.Clone()
			scfg.NextProtos, ccfg.NextProtos = []string{"h2"}, []string{"h2"}
			ln := listen(b, scfg)
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }), TLSConfig: scfg, ErrorLog: log.New(io.Discard, "", 0)}
			go func() { _ = srv.Serve(ln) }()
			b.Cleanup(func() { _ = srv.Close() })
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: ccfg, ForceAttemptHTTP2: true}}
			url := "https://" + ln.Addr().String() + "/healthz"
			return func() error {
				resp, err := c.Get(url)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.ProtoMajor != 2 {
					return fmt.Errorf("%s, want HTTP/2", resp.Proto)
				}
				return nil
			}
		}},
		{"http1.1 fasthttp plain", func(b *testing.B) func() error { return fasthttpPair(b, nil) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			do := tc.do(b)
			// RunParallel runs parallelism × GOMAXPROCS goroutines.
			b.SetParallelism(max(64/runtime.GOMAXPROCS(0), 1))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := do(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
