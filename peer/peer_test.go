package peer

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
)

type memStore struct {
	mu    sync.Mutex
	ca    string
	nodes []store.Node
}

func (m *memStore) ClusterCA(_ context.Context, create func() (string, error)) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ca == "" {
		v, err := create()
		if err != nil {
			return "", err
		}
		m.ca = v
	}
	return m.ca, nil
}

func (m *memStore) ListNodes(context.Context) ([]store.Node, error) { return m.nodes, nil }

func box(t *testing.T, b byte) *secrets.Box {
	t.Helper()
	bx, err := secrets.New(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return bx
}

// serve answers "hi" on one TLS connection per accept.
func serve(t *testing.T, p *Peers) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", p.ServerTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err == nil {
					_, _ = io.WriteString(c, "hi")
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestNodesOfOneClusterTalkOthersDoNot(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	a, err := New(ctx, "a", st, box(t, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, "b", st, box(t, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	st.nodes = []store.Node{{Name: "a"}, {Name: "b", PeerAddress: serve(t, b)}}
	a.Refresh(ctx)
	c, err := a.Dial("b", 5*time.Second)
	if err != nil {
		t.Fatalf("a dials b: %v", err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "hi" {
		t.Fatalf("a got %q from b", got)
	}
	if _, err := a.Dial("c", time.Second); err == nil {
		t.Fatal("dialed a node with no peer address")
	}

	// No certificate, or one of another cluster's CA: no answer.
	other, err := New(ctx, "x", &memStore{nodes: st.nodes}, box(t, 2), nil)
	if err != nil {
		t.Fatal(err)
	}
	other.Refresh(ctx)
	for name, cfg := range map[string]*tls.Config{
		"no certificate":  {InsecureSkipVerify: true},
		"another cluster": func() *tls.Config { c := other.ClientTLS(); c.InsecureSkipVerify = true; return c }(),
	} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", st.nodes[1].PeerAddress, cfg)
		if err != nil {
			continue // refused in the handshake
		}
		got, _ := io.ReadAll(conn)
		conn.Close()
		if len(got) > 0 {
			t.Fatalf("%s: b answered %q", name, got)
		}
	}

	// A node with another secrets key cannot open the CA's key.
	_, err = New(ctx, "c", st, box(t, 3), nil)
	if err == nil || !strings.Contains(err.Error(), "same secrets key") {
		t.Fatalf("another secrets key: %v", err)
	}
}
