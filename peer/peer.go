// Package peer connects a cluster's nodes to each other: mutual TLS with
// certificates of a CA the cluster makes for itself on first start and
// keeps in etcd (its key sealed with the secrets key every node shares).
// A node's router forwards the requests of namespaces placed on another
// node to that node's peer listener; only a holder of a certificate from
// the cluster's CA gets through it.
package peer

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
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/store"
)

// serverName is in every node's certificate: any node may serve any
// other (the CA, not the name, is what is checked).
const serverName = "clawd-peer"

// sealContext binds the sealed CA key to its purpose.
const sealContext = "cluster-ca"

// Store keeps the CA and lists the nodes.
type Store interface {
	ClusterCA(ctx context.Context, create func() (string, error)) (string, error)
	ListNodes(ctx context.Context) ([]store.Node, error)
}

// Sealer seals the CA's key (secrets.Box).
type Sealer interface {
	Seal(plain []byte, context string) (string, error)
	Open(sealed, context string) ([]byte, error)
}

// Peers dials other nodes and secures this node's peer listener.
type Peers struct {
	node   string
	st     Store
	log    hclog.Logger
	server *tls.Config
	client *tls.Config

	mu    sync.Mutex
	addrs map[string]string // node → peer address
}

type storedCA struct {
	Cert string `json:"cert"` // PEM
	Key  string `json:"key"`  // the PEM key, sealed
}

// New loads the cluster's CA (making it if the cluster has none) and
// issues this node a certificate from it.
func New(ctx context.Context, node string, st Store, box Sealer, log hclog.Logger) (*Peers, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	raw, err := st.ClusterCA(ctx, func() (string, error) { return newCA(box) })
	if err != nil {
		return nil, err
	}
	var sc storedCA
	if err := json.Unmarshal([]byte(raw), &sc); err != nil {
		return nil, fmt.Errorf("decoding the cluster CA: %w", err)
	}
	keyPEM, err := box.Open(sc.Key, sealContext)
	if err != nil {
		return nil, fmt.Errorf("opening the cluster CA's key: %w (every node of a cluster needs the same secrets key: --secrets.keyfile or CLAWD_SECRETS_KEY)", err)
	}
	ca, err := tls.X509KeyPair([]byte(sc.Cert), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading the cluster CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parsing the cluster CA: %w", err)
	}
	leaf, err := issue(node, caCert, ca.PrivateKey)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	p := &Peers{node: node, st: st, log: log, addrs: map[string]string{}}
	p.server = &tls.Config{Certificates: []tls.Certificate{leaf}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS13}
	// Pooled connections carry most requests; a new one resumes a
	// session instead of a full handshake where it can.
	p.client = &tls.Config{Certificates: []tls.Certificate{leaf}, RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS13,
		ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	return p, nil
}

func newCA(box Sealer) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "clawd cluster CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	sealed, err := box.Seal(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), sealContext)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(storedCA{Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), Key: sealed})
	return string(b), err
}

// issue makes this node's certificate, for serving and for dialing; it
// is made afresh at every start and lives a year.
func issue(node string, ca *x509.Certificate, caKey any) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: node},
		DNSNames:     []string{serverName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issuing the node certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// ServerTLS is the peer listener's config: a client certificate of the
// cluster's CA is required.
func (p *Peers) ServerTLS() *tls.Config { return p.server.Clone() }

// ClientTLS is what this node dials other nodes with.
func (p *Peers) ClientTLS() *tls.Config { return p.client.Clone() }

// ErrNoPeer reports a node that is not alive or has no peer listener.
var ErrNoPeer = errors.New("no peer listener known for the node")

// Addr returns a node's peer address as last listed.
func (p *Peers) Addr(node string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.addrs[node]
	return a, ok
}

// Known reports that node has a peer listener.
func (p *Peers) Known(node string) bool {
	_, ok := p.Addr(node)
	return ok
}

// Dial opens a TLS connection to a node's peer listener.
func (p *Peers) Dial(node string, timeout time.Duration) (net.Conn, error) {
	addr, ok := p.Addr(node)
	if !ok {
		return nil, fmt.Errorf("node %s: %w", node, ErrNoPeer)
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: p.client}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, "tcp", addr)
}

// Run keeps the address book in step with the live nodes until ctx ends.
func (p *Peers) Run(ctx context.Context, every time.Duration) {
	for {
		p.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Refresh reads the live nodes once (Run does it periodically).
func (p *Peers) Refresh(ctx context.Context) { p.refresh(ctx) }

func (p *Peers) refresh(ctx context.Context) {
	nodes, err := p.st.ListNodes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("listing nodes for peer addresses failed", "error", err)
		}
		return
	}
	m := make(map[string]string, len(nodes))
	for _, n := range nodes {
		if n.PeerAddress != "" && n.Name != p.node {
			m[n.Name] = n.PeerAddress
		}
	}
	p.mu.Lock()
	p.addrs = m
	p.mu.Unlock()
}
