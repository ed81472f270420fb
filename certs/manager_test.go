package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writePair writes a self-signed NAME.crt/NAME.key for dnsNames into dir.
func writePair(t *testing.T, dir, name string, dnsNames ...string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     dnsNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileCertificatesBySNI(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, "shop", "shop.example.com", "www.shop.example.com")
	writePair(t, dir, "wild", "*.apps.example.com")
	writePair(t, dir, "bare.example.com") // no SANs: served for its file name
	m, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sni, wantCN string
	}{
		{"shop.example.com", "shop"},
		{"WWW.Shop.Example.Com.", "shop"},
		{"a.apps.example.com", "wild"},
		{"bare.example.com", "bare.example.com"},
		{"a.b.apps.example.com", ""}, // a wildcard covers one label only
		{"apps.example.com", ""},
		{"other.example.com", ""},
		{"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.sni, func(t *testing.T) {
			c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni})
			if tc.wantCN == "" {
				if !errors.Is(err, ErrNoCertificate) {
					t.Fatalf("got %v, want ErrNoCertificate", err)
				}
				if m.CanServe(tc.sni) {
					t.Fatal("CanServe true for a name without certificate")
				}
				return
			}
			if err != nil || c.Leaf.Subject.CommonName != tc.wantCN {
				t.Fatalf("got %v (%v), want %s", c, err, tc.wantCN)
			}
			if !m.CanServe(tc.sni) {
				t.Fatal("CanServe false for a name with certificate")
			}
		})
	}
}

func TestBadDirectoryRefused(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, "ok", "ok.example.com")
	if err := os.WriteFile(filepath.Join(dir, "lonely.crt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Dir: dir}); err == nil {
		t.Fatal("a .crt without its key was accepted")
	}
	if _, err := New(Config{Dir: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("a missing directory was accepted")
	}
}

func TestReloadPicksUpNewFilesAndKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, "a", "a.example.com")
	m, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, dir, "b", "b.example.com")
	m.reload()
	if !m.CanServe("b.example.com") {
		t.Fatal("new pair not loaded")
	}
	if err := os.WriteFile(filepath.Join(dir, "c.crt"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.reload()
	if !m.CanServe("a.example.com") || !m.CanServe("b.example.com") {
		t.Fatal("a broken directory dropped the certificates loaded before")
	}
}

func TestACMEOnlyForOwnedHosts(t *testing.T) {
	owned := map[string]bool{"tenant.example.com": true}
	m, err := New(Config{ACME: &ACME{DirectoryURL: "https://127.0.0.1:1/dir", CacheDir: t.TempDir(), Owns: func(h string) bool { return owned[h] }}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.CanServe("tenant.example.com") || m.CanServe("stranger.example.com") {
		t.Fatal("CanServe does not follow the host policy")
	}
	// A stranger is refused before any ACME traffic.
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "stranger.example.com"}); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("stranger: %v", err)
	}
	if err := m.auto.HostPolicy(t.Context(), "stranger.example.com"); err == nil {
		t.Fatal("host policy accepted a stranger")
	}
	// HTTP-01 requests hand the policy their Host header, port included.
	if err := m.auto.HostPolicy(t.Context(), "Tenant.Example.com:8080"); err != nil {
		t.Fatalf("host policy refused an owned host with a port: %v", err)
	}
	protos := m.TLSConfig(false).NextProtos
	if protos[len(protos)-1] != "acme-tls/1" {
		t.Fatalf("ALPN %v lacks acme-tls/1", protos)
	}
}

func TestHTTPHandlerRedirect(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, "a", "a.example.com")
	m, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	cases := []struct {
		name, port, host, target string
		code                     int
		location                 string
	}{
		{"default port", "443", "a.example.com", "/x?y=1", 308, "https://a.example.com/x?y=1"},
		{"other port", "8443", "a.example.com:8080", "/", 308, "https://a.example.com:8443/"},
		{"no certificate: routed as usual", "443", "b.example.com", "/", 418, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", tc.target, nil)
			req.Host = tc.host
			m.HTTPHandler(next, true, tc.port).ServeHTTP(rec, req)
			if rec.Code != tc.code || rec.Header().Get("Location") != tc.location {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Header().Get("Location"), tc.code, tc.location)
			}
		})
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "a.example.com"
	m.HTTPHandler(next, false, "443").ServeHTTP(rec, req)
	if rec.Code != 418 {
		t.Fatalf("redirect off: got %d", rec.Code)
	}
}
