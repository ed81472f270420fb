package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/clawd-dev/clawd/internal/testenv"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The router's TLS listener against a local Pebble ACME CA. Pebble
// validates for real: its DNS is pebble-challtestsrv answering 127.0.0.1
// for every name, and its validation ports are the router's, so the
// challenge is answered by clawd itself. Here Pebble's HTTP-01 port is
// closed, so only TLS-ALPN-01 on the TLS listener can succeed. No public CA
// or DNS is ever contacted.
func TestRouterTLS(t *testing.T) {
	certDir := t.TempDir()
	fileRoots := writeSelfSigned(t, certDir, "files", "files.tls.test")
	d, tlsAddr, pb := acmeDaemon(t, "tls-alpn-01", "--router.certDir="+certDir, "--router.httpsRedirect=true")

	d.mustClawd("namespace", "create", "tlsa", "--hostname=tlsa.tls.test")
	d.mustClawd("namespace", "create", "tlsb", "--hostname=files.tls.test")
	d.waitPhase("tlsa", "Running", 90*time.Second)
	d.waitPhase("tlsb", "Running", 90*time.Second)

	t.Run("ACME certificate on first handshake reaches the gateway", func(t *testing.T) {
		roots := pb.issuedRoots(t)
		code, body, state := httpsGet(t, tlsAddr, "tlsa.tls.test", roots, "/__standin")
		var info standinInfo
		if code != 200 || json.Unmarshal(body, &info) != nil || info.Namespace != "tlsa" {
			t.Fatalf("got %d %s, want tlsa's stand-in", code, body)
		}
		leaf := state.PeerCertificates[0]
		if !strings.Contains(leaf.Issuer.CommonName, "Pebble") || leaf.VerifyHostname("tlsa.tls.test") != nil {
			t.Fatalf("served certificate issued by %q for %v", leaf.Issuer.CommonName, leaf.DNSNames)
		}
		// Cached on disk (owner-only) for the next start.
		fi, err := os.Stat(filepath.Join(d.dir, "acme"))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("ACME cache dir: %v %v, want mode 0700", fi, err)
		}
		if _, err := os.Stat(filepath.Join(d.dir, "acme", "tlsa.tls.test")); err != nil {
			t.Fatalf("certificate not cached: %v", err)
		}
		// The second handshake is served from memory.
		if code, _, _ := httpsGet(t, tlsAddr, "tlsa.tls.test", roots, "/healthz"); code != 200 {
			t.Fatalf("second request: %d", code)
		}
	})

	t.Run("a hostname no namespace owns gets no certificate", func(t *testing.T) {
		conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "stranger.tls.test", InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			t.Fatal("handshake for an unowned hostname succeeded")
		}
		if logs := pb.logs(); strings.Contains(logs, "stranger.tls.test") {
			t.Fatalf("pebble was asked about the stranger:\n%s", logs)
		}
	})

	t.Run("file certificate by SNI", func(t *testing.T) {
		code, body, state := httpsGet(t, tlsAddr, "files.tls.test", fileRoots, "/__standin")
		var info standinInfo
		if code != 200 || json.Unmarshal(body, &info) != nil || info.Namespace != "tlsb" {
			t.Fatalf("got %d %s, want tlsb's stand-in", code, body)
		}
		if cn := state.PeerCertificates[0].Subject.CommonName; cn != "files" {
			t.Fatalf("served %q, want the file certificate", cn)
		}
	})

	t.Run("HTTP redirects to HTTPS for hosts with a certificate", func(t *testing.T) {
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("GET", "http://"+d.routerAddr+"/__standin?x=1", nil)
		req.Host = "tlsa.tls.test"
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := fmt.Sprintf("https://tlsa.tls.test:%d/__standin?x=1", portOf(t, tlsAddr))
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Fatalf("got %d %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		// A host without a certificate is routed as before.
		if code, _ := d.viaRouter("stranger.tls.test", "/"); code != 404 {
			t.Fatalf("unknown host over HTTP: %d, want 404", code)
		}
	})
}

// With Pebble's TLS-ALPN-01 port closed, the certificate comes through
// HTTP-01, answered on the router's plain listener.
func TestRouterACMEHTTP01(t *testing.T) {
	d, tlsAddr, pb := acmeDaemon(t, "http-01")
	d.mustClawd("namespace", "create", "tlsh", "--hostname=tlsh.tls.test")
	d.waitPhase("tlsh", "Running", 90*time.Second)
	code, body, state := httpsGet(t, tlsAddr, "tlsh.tls.test", pb.issuedRoots(t), "/__standin")
	var info standinInfo
	if code != 200 || json.Unmarshal(body, &info) != nil || info.Namespace != "tlsh" {
		t.Fatalf("got %d %s, want tlsh's stand-in", code, body)
	}
	if leaf := state.PeerCertificates[0]; !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Fatalf("served certificate issued by %q", leaf.Issuer.CommonName)
	}
}

// acmeDaemon starts clawd with ACME on and a Pebble that validates only
// the given challenge type: the other type's port points nowhere.
func acmeDaemon(t *testing.T, challenge string, extra ...string) (*daemon, string, *pebble) {
	t.Helper()
	needDocker(t)
	pb := newPebble(t)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, append([]string{
		"--router.tlsAddress=" + tlsAddr,
		"--router.acme.caServer=" + pb.directory,
		"--router.acme.caRoots=" + pb.apiRootsFile,
		"--router.acme.email=ops@tls.test",
	}, extra...)...)
	httpPort, tlsPort := portOf(t, d.routerAddr), portOf(t, tlsAddr)
	switch challenge {
	case "tls-alpn-01":
		httpPort = freePort(t)
	case "http-01":
		tlsPort = freePort(t)
	}
	pb.start(t, httpPort, tlsPort)
	return d, tlsAddr, pb
}

// httpsGet sends GET path to addr with SNI and Host name, trusting roots.
func httpsGet(t *testing.T, addr, name string, roots *x509.CertPool, path string) (int, []byte, tls.ConnectionState) {
	t.Helper()
	var state tls.ConnectionState
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: name, RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	resp, err := c.Get("https://" + name + path)
	if err != nil {
		t.Fatalf("GET https://%s%s via %s: %v", name, path, addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.TLS != nil {
		state = *resp.TLS
	}
	return resp.StatusCode, body, state
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(p, &n)
	return n
}

// pebble is a Pebble ACME CA with pebble-challtestsrv as its DNS.
type pebble struct {
	dir          string
	directory    string // ACME directory URL
	mgmt         string // management address (roots of issued certificates)
	apiRootsFile string // PEM of the CA that signed Pebble's own HTTPS certificate
	apiRoots     *x509.CertPool
	out          *lockedBuffer
}

// newPebble picks ports and writes Pebble's HTTPS certificate; start runs it
// once the router's ports are known.
func newPebble(t *testing.T) *pebble {
	t.Helper()
	for _, bin := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(bin); err != nil {
			installPebble(t)
			break
		}
	}
	p := &pebble{dir: t.TempDir(), out: &lockedBuffer{}}
	p.directory = fmt.Sprintf("https://127.0.0.1:%d/dir", freePort(t))
	p.mgmt = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	caPEM, certPEM, keyPEM := issueServerCert(t, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	p.apiRootsFile = filepath.Join(p.dir, "ca.pem")
	mustWrite(t, p.apiRootsFile, caPEM)
	mustWrite(t, filepath.Join(p.dir, "cert.pem"), certPEM)
	mustWrite(t, filepath.Join(p.dir, "key.pem"), keyPEM)
	p.apiRoots = x509.NewCertPool()
	p.apiRoots.AppendCertsFromPEM(caPEM)
	return p
}

// installPebble installs Debian's pebble package (make test does this
// through scripts/ensure-tools.sh); the test is skipped only when that fails.
func installPebble(t *testing.T) {
	t.Helper()
	out, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "ensure-tools.sh")).CombinedOutput()
	if err != nil {
		testenv.Missing(t, "pebble is not installed and installing it failed: %v: %s", err, out)
	}
}

func (p *pebble) start(t *testing.T, httpPort, tlsPort int) {
	t.Helper()
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	chall := exec.Command("pebble-challtestsrv",
		"-dns01", dnsAddr, "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	chall.Stdout, chall.Stderr = p.out, p.out
	startProcess(t, chall)

	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  strings.TrimSuffix(strings.TrimPrefix(p.directory, "https://"), "/dir"),
		"managementListenAddress":        p.mgmt,
		"certificate":                    filepath.Join(p.dir, "cert.pem"),
		"privateKey":                     filepath.Join(p.dir, "key.pem"),
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	raw, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(p.dir, "pebble.json")
	mustWrite(t, cfgFile, raw)
	cmd := exec.Command("pebble", "-config", cfgFile, "-dnsserver", dnsAddr)
	// No random validation delays and no injected bad nonces: the test is
	// about clawd, not about client retry paths.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout, cmd.Stderr = p.out, p.out
	startProcess(t, cmd)

	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.apiRoots}}, Timeout: 2 * time.Second}
	eventually(t, 30*time.Second, "pebble's directory", func() bool {
		resp, err := c.Get(p.directory)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.logs())
		}
	})
}

// issuedRoots is the root Pebble signs certificates with, new each run.
func (p *pebble) issuedRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.apiRoots}}, Timeout: 5 * time.Second}
	resp, err := c.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	pemBytes, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("pebble root: %d %s", resp.StatusCode, pemBytes)
	}
	return pool
}

func (p *pebble) logs() string { return p.out.String() }

// startProcess starts cmd and stops it when the test ends.
func startProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// issueServerCert makes a throwaway CA and a server certificate it signs.
func issueServerCert(t *testing.T, names []string, ips []net.IP) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "clawd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, IPAddresses: ips,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// writeSelfSigned writes NAME.crt/NAME.key for host into dir and returns a
// pool that trusts it.
func writeSelfSigned(t *testing.T, dir, name, host string) *x509.CertPool {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: name}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	mustWrite(t, filepath.Join(dir, name+".crt"), certPEM)
	mustWrite(t, filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
