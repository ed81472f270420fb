package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
)

// silentGateway accepts connections and reads them, but never answers.
func silentGateway(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	return ln.Addr().String()
}

// deadlineRouter serves namespace "gw" at gw.example on addr with upstream
// limits u.
func deadlineRouter(t *testing.T, addr string, u UpstreamLimits) string {
	t.Helper()
	r := New(nil)
	r.LimitUpstream(u)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx, obsWatcher{names: []namespace.Namespace{nsAt("gw", namespace.PhaseRunning, addr, "gw.example")}})
	<-r.Ready()
	return serveRouter(t, r, Limits{})
}

// A gateway that accepts a request and never answers gets the client a 504
// problem once the response head deadline passes, not a pinned request.
func TestSilentGatewayGets504(t *testing.T) {
	url := deadlineRouter(t, silentGateway(t), UpstreamLimits{ResponseHeaderTimeout: 200 * time.Millisecond})
	// A generous bound: the router must answer long before it.
	client := &http.Client{Timeout: 30 * time.Second}
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			req, _ := http.NewRequest(method, url+"/v1/chat/completions", strings.NewReader("{}"))
			req.Host = "gw.example"
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("no answer from the router: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusGatewayTimeout {
				t.Fatalf("status %d, want 504: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			if !strings.Contains(string(body), "did not answer") || !strings.Contains(string(body), `"namespace":"gw"`) {
				t.Fatalf("body %s", body)
			}
		})
	}
}

// The head deadline ends with the head: a stream that pauses for longer than
// it, after its head, reaches the client whole.
func TestStreamOutlivesHeadDeadline(t *testing.T) {
	const head = 100 * time.Millisecond
	gw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: one\n\n"))
		w.(http.Flusher).Flush()
		time.Sleep(5 * head)
		_, _ = w.Write([]byte("data: two\n\n"))
	})
	srv := newHTTPBackend(t, gw)
	url := deadlineRouter(t, srv, UpstreamLimits{ResponseHeaderTimeout: head})
	req, _ := http.NewRequest("GET", url+"/stream", nil)
	req.Host = "gw.example"
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(body) != "data: one\n\ndata: two\n\n" {
		t.Fatalf("stream: %d %q %v", resp.StatusCode, body, err)
	}
}

// A gateway that accepts a WebSocket upgrade and never answers gets the
// client a 504 problem once the handshake deadline passes.
func TestSilentWebSocketHandshakeGets504(t *testing.T) {
	url := deadlineRouter(t, silentGateway(t), UpstreamLimits{WSHandshakeTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // generous: the router must answer first
	fmt.Fprint(c, "GET /ws HTTP/1.1\r\nHost: gw.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer from the router: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "did not answer") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

func newHTTPBackend(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}
