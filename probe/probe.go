// Package probe asks a gateway whether it takes traffic.
package probe

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
)

// Ready GETs http://addr+path and reports whether it answered 200 with
// {"ready":true}. The body must be checked: OpenClaw's Control UI answers
// unknown paths with 200 HTML.
func Ready(ctx context.Context, c *http.Client, addr, path string) bool {
	return ReadyWith(ctx, c, addr, path, nil)
}

// ReadyWith is Ready with extra request header fields: a gateway that
// trusts the prober as its proxy (OpenClaw's trusted-proxy auth) refuses
// even its probes unless they name a client in X-Forwarded-For.
func ReadyWith(ctx context.Context, c *http.Client, addr, path string, h http.Header) bool {
	if addr == "" {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return false
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Ready bool `json:"ready"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) != nil {
		return false
	}
	return body.Ready
}
