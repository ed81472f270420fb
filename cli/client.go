package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/problem"
)

// DefaultAddr is where the CLI looks for the daemon's admin API.
const DefaultAddr = "http://127.0.0.1:7070"

// client talks to the daemon's admin API.
type client struct {
	addr  string
	token string
	http  *http.Client
}

// newClient finds the daemon through CLAWD_ADDR and the token through
// CLAWD_TOKEN or <CLAWD_DATADIR or /var/lib/clawd>/admin.token.
func newClient() (*client, error) {
	addr := strings.TrimRight(os.Getenv("CLAWD_ADDR"), "/")
	if addr == "" {
		addr = DefaultAddr
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	token := strings.TrimSpace(os.Getenv("CLAWD_TOKEN"))
	if token == "" {
		dir := os.Getenv("CLAWD_DATADIR")
		if dir == "" {
			dir = "/var/lib/clawd"
		}
		path := filepath.Join(dir, "admin.token")
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("no admin token: set CLAWD_TOKEN, or CLAWD_DATADIR to the daemon's data dir (could not read %s: %v)", path, unwrapPathError(err))
		}
		token = strings.TrimSpace(string(raw))
	}
	return &client{addr: addr, token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// do sends a request and decodes a JSON reply into out (unless nil). A
// problem reply becomes an error carrying its detail line.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	resp, err := c.send(ctx, c.http, method, path, rd)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the daemon's reply: %w", err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decoding the daemon's reply: %w", err)
		}
	}
	return nil
}

// stream GETs path and copies the reply to w as it arrives, without the
// client's overall timeout (an export may run for minutes). A reply cut
// short is an error: the daemon cuts the connection when its ledger
// fails mid-way, and a short file must not pass for a whole one.
func (c *client) stream(ctx context.Context, path string, w io.Writer) error {
	hc := *c.http
	hc.Timeout = 0
	resp, err := c.send(ctx, &hc, "GET", path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("the export was cut short (%v); what was written is incomplete, run it again", err)
	}
	return nil
}

// send makes one authenticated request with hc. A daemon that cannot be
// reached, or a problem reply, is an error carrying one line to show; a
// reply below 400 is the caller's to read and close.
func (c *client) send(ctx context.Context, hc *http.Client, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.addr+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return nil, fmt.Errorf("cannot reach the clawd daemon at %s: is 'clawd up' running? (set CLAWD_ADDR to use another address)", c.addr)
		}
		return nil, fmt.Errorf("talking to the clawd daemon at %s: %w", c.addr, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := &apiError{status: resp.StatusCode, detail: "the daemon answered " + resp.Status}
		var p problem.Problem
		if json.Unmarshal(raw, &p) == nil && p.Detail != "" {
			e.detail = p.Detail
		}
		return nil, e
	}
	return resp, nil
}

// apiError is a problem reply of the admin API.
type apiError struct {
	status int
	detail string
}

func (e *apiError) Error() string { return e.detail }

func isStatus(err error, code int) bool {
	var e *apiError
	return errors.As(err, &e) && e.status == code
}
