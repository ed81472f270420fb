package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// /metrics on the admin listener counts a namespace's requests through the
// router, its wakes (one for many held requests), and is closed to callers
// without the admin token.
func TestMetricsCountRouterRequests(t *testing.T) {
	d := startDaemon(t)
	d.mustClawd("namespace", "create", "metered", "--hostname=metered.localhost")
	d.waitPhase("metered", "Running", 90*time.Second)
	for range 3 {
		if code, _ := d.viaRouter("metered.localhost", "/healthz"); code != 200 {
			t.Fatalf("request via router: %d", code)
		}
	}
	d.viaRouter("nobody.localhost", "/")

	if code, _ := d.scrape(""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without the admin token: %d, want 401", code)
	}
	_, body := d.scrape(d.adminToken())
	for _, want := range []string{
		`clawd_router_requests_total{code="2xx",method="GET",namespace="metered"} 3`,
		`clawd_router_requests_total{code="4xx",method="GET",namespace=""} 1`,
		`clawd_router_request_duration_seconds_count{namespace="metered"} 3`,
		`clawd_router_active_connections{namespace="metered"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "/healthz") {
		t.Error("/metrics names a path")
	}

	// Five requests held while the stopped namespace wakes: one wake.
	d.mustClawd("namespace", "sleep", "metered", "--to=stopped")
	d.waitPhase("metered", "Stopped", 30*time.Second)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "http://"+d.routerAddr+"/healthz", nil)
			req.Host = "metered.localhost"
			resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
			if err != nil {
				t.Errorf("held request: %v", err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	_, body = d.scrape(d.adminToken())
	for _, want := range []string{
		`clawd_router_wakes_total{namespace="metered",result="ok"} 1`,
		`clawd_router_wake_duration_seconds_count{namespace="metered"} 1`,
		`clawd_router_requests_total{code="2xx",method="GET",namespace="metered"} 8`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics after a wake lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}

	// A deleted namespace's series go with it.
	d.mustClawd("namespace", "delete", "metered")
	eventually(t, 60*time.Second, "metered's series to leave /metrics", func() bool {
		_, body := d.scrape(d.adminToken())
		return !strings.Contains(body, `namespace="metered"`)
	})
}

func (d *daemon) adminToken() string {
	d.t.Helper()
	raw, err := os.ReadFile(filepath.Join(d.dir, "admin.token"))
	if err != nil {
		d.t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// scrape GETs the admin listener's /metrics with token ("" sends none).
func (d *daemon) scrape(token string) (int, string) {
	d.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.apiAddr+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
