// Package certs picks the router's TLS certificate for each handshake:
// files from a directory by SNI first, then, for hostnames a namespace
// owns, one obtained from an ACME CA (TLS-ALPN-01 on the TLS listener,
// HTTP-01 on the plain one) and cached on disk.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Config says where certificates come from.
type Config struct {
	// Dir holds NAME.crt/NAME.key pairs; empty: none.
	Dir string
	// ACME is nil when automatic certificates are off.
	ACME   *ACME
	Logger hclog.Logger
}

// ACME configures automatic certificates.
type ACME struct {
	// DirectoryURL is the CA's ACME directory.
	DirectoryURL string
	Email        string
	// RootsFile is a PEM file of extra roots to trust for the CA's own
	// API (a test CA such as Pebble); empty: the system roots only.
	RootsFile string
	// CacheDir keeps the account key and the certificates (mode 0700).
	CacheDir string
	// Owns is the host policy: certificates are requested only for the
	// names it accepts.
	Owns func(host string) bool
}

// Manager answers TLS handshakes.
type Manager struct {
	dir   string
	files atomic.Pointer[fileSet]
	auto  *autocert.Manager // nil: ACME off
	owns  func(string) bool
	log   hclog.Logger
}

// ErrNoCertificate is returned for a handshake no certificate fits.
var ErrNoCertificate = errors.New("no certificate for this server name")

// New loads the certificate directory and prepares ACME. It fails when the
// directory or the roots file cannot be read.
func New(cfg Config) (*Manager, error) {
	m := &Manager{dir: cfg.Dir, log: cfg.Logger}
	if m.log == nil {
		m.log = hclog.NewNullLogger()
	}
	empty := &fileSet{}
	m.files.Store(empty)
	if cfg.Dir != "" {
		s, err := loadDir(cfg.Dir)
		if err != nil {
			return nil, err
		}
		m.files.Store(s)
		m.log.Info("certificates loaded", "dir", cfg.Dir, "names", s.len())
	}
	if a := cfg.ACME; a != nil && a.DirectoryURL != "" {
		hc, err := httpClient(a.RootsFile)
		if err != nil {
			return nil, err
		}
		if a.Owns == nil {
			return nil, errors.New("ACME needs a host policy")
		}
		m.owns = a.Owns
		m.auto = &autocert.Manager{
			Prompt: autocert.AcceptTOS,
			Cache:  autocert.DirCache(a.CacheDir),
			HostPolicy: func(_ context.Context, host string) error {
				// HTTP-01 requests pass the Host header, port and all.
				if h, _, err := net.SplitHostPort(host); err == nil {
					host = h
				}
				if !a.Owns(normalize(host)) {
					return fmt.Errorf("host %q belongs to no namespace", host)
				}
				return nil
			},
			Email:  a.Email,
			Client: &acme.Client{DirectoryURL: a.DirectoryURL, HTTPClient: hc, UserAgent: "clawd"},
		}
	}
	return m, nil
}

// httpClient trusts the system roots plus those in rootsFile.
func httpClient(rootsFile string) (*http.Client, error) {
	if rootsFile == "" {
		return &http.Client{Timeout: 30 * time.Second}, nil
	}
	pem, err := os.ReadFile(rootsFile)
	if err != nil {
		return nil, fmt.Errorf("reading ACME CA roots: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ACME CA roots %s: no PEM certificate found", rootsFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// Empty says the manager has no way to get any certificate.
func (m *Manager) Empty() bool { return m.auto == nil && m.files.Load().len() == 0 }

// ACME says whether automatic certificates are on.
func (m *Manager) ACME() bool { return m.auto != nil }

// Run re-reads the certificate directory when it changes until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	if m.dir == "" {
		return
	}
	t := time.NewTicker(reloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.reload()
		}
	}
}

func (m *Manager) reload() {
	stamp, err := dirStamp(m.dir)
	if err != nil {
		m.log.Warn("certificate directory unreadable; keeping the certificates loaded before", "dir", m.dir, "error", err)
		return
	}
	if stamp == m.files.Load().stamp {
		return
	}
	s, err := loadDir(m.dir)
	if err != nil {
		m.log.Warn("certificate directory changed but does not load; keeping the certificates loaded before", "dir", m.dir, "error", err)
		return
	}
	m.files.Store(s)
	m.log.Info("certificates reloaded", "dir", m.dir, "names", s.len())
}

// GetCertificate is tls.Config's hook: the ACME challenge certificate for
// TLS-ALPN-01 handshakes, else a file certificate for the server name,
// else (ACME on, name owned by a namespace) the ACME one, obtained on the
// first handshake and cached.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.auto != nil && slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
		return m.auto.GetCertificate(hello)
	}
	name := normalize(hello.ServerName)
	if c := m.files.Load().lookup(name); c != nil {
		return c, nil
	}
	if m.auto != nil && name != "" && m.owns(name) {
		c, err := m.auto.GetCertificate(hello)
		if err != nil {
			m.log.Warn("no ACME certificate", "host", name, "error", err)
		}
		return c, err
	}
	return nil, fmt.Errorf("%w: %q", ErrNoCertificate, name)
}

// CanServe says whether a handshake for host would get a certificate.
func (m *Manager) CanServe(host string) bool {
	host = normalize(host)
	if m.files.Load().lookup(host) != nil {
		return true
	}
	return m.auto != nil && host != "" && m.owns(host)
}

// TLSConfig is the listener's configuration. It offers HTTP/1.1 (and h2
// when h2 is true) and the ACME ALPN protocol.
func (m *Manager) TLSConfig(h2 bool) *tls.Config {
	protos := []string{"http/1.1"}
	if h2 {
		protos = []string{"h2", "http/1.1"}
	}
	if m.auto != nil {
		protos = append(protos, acme.ALPNProto)
	}
	return &tls.Config{GetCertificate: m.GetCertificate, NextProtos: protos, MinVersion: tls.VersionTLS12}
}

// HTTPHandler wraps the plain listener's handler: it answers ACME HTTP-01
// challenges when ACME is on, and with redirect sends requests for hosts
// that have a certificate to HTTPS on httpsPort ("" or "443": no port in
// the URL). Everything else goes to next.
func (m *Manager) HTTPHandler(next http.Handler, redirect bool, httpsPort string) http.Handler {
	h := next
	if redirect {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host := r.Host
			if hh, _, err := net.SplitHostPort(host); err == nil {
				host = hh
			}
			if !m.CanServe(host) {
				next.ServeHTTP(w, r)
				return
			}
			if httpsPort != "" && httpsPort != "443" {
				host = net.JoinHostPort(host, httpsPort)
			}
			// 308 keeps the method and body, so a POST is not turned
			// into a GET.
			http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
		})
	}
	if m.auto != nil {
		// autocert redirects non-challenge requests itself when given a
		// nil fallback; it always gets one here so redirecting stays ours.
		h = m.auto.HTTPHandler(h)
	}
	return h
}

func normalize(host string) string { return strings.TrimSuffix(strings.ToLower(host), ".") }
