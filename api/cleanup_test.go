package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/retention"
)

type cleanerLog struct{ reqs []retention.Request }

func (c *cleanerLog) Clean(_ context.Context, req retention.Request) (*retention.Report, error) {
	c.reqs = append(c.reqs, req)
	return &retention.Report{Namespace: req.Namespace, DryRun: req.DryRun}, nil
}

func TestCleanupEndpoint(t *testing.T) {
	if rec := admin(t, New(Config{Token: adminToken}, newMemStore(), nil), "POST", "/api/v1/namespaces/a/cleanup", `{"olderThan":"90d"}`); rec.Code != http.StatusConflict {
		t.Fatalf("without a cleaner: %d, want 409", rec.Code)
	}
	cl := &cleanerLog{}
	srv := New(Config{Token: adminToken, Cleanup: cl}, newMemStore(), nil)
	for body, want := range map[string]string{
		`{}`:                                   "olderThan is required",
		`{"olderThan":"90x"}`:                  "olderThan",
		`{"olderThan":"1d","kinds":["chats"]}`: `unknown kind`,
		`{"olderThan":"1d","force":true}`:      "invalid JSON body",
	} {
		rec := admin(t, srv, "POST", "/api/v1/namespaces/a/cleanup", body)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %d %s; want 400 naming %q", body, rec.Code, rec.Body, want)
		}
	}
	if len(cl.reqs) != 0 {
		t.Fatalf("bad input reached the cleaner: %+v", cl.reqs)
	}
	if rec := admin(t, srv, "POST", "/api/v1/namespaces/a/cleanup", `{"olderThan":"90d"}`); rec.Code != http.StatusOK {
		t.Fatalf("cleanup: %d %s", rec.Code, rec.Body)
	}
	if rec := admin(t, srv, "POST", "/api/v1/namespaces/a/cleanup", `{"olderThan":"2w","dryRun":false,"kinds":["logs"]}`); rec.Code != http.StatusOK {
		t.Fatalf("cleanup: %d %s", rec.Code, rec.Body)
	}
	if len(cl.reqs) != 2 || !cl.reqs[0].DryRun || len(cl.reqs[0].OlderThan) != 3 || cl.reqs[0].OlderThan[retention.Metrics] != 90*24*time.Hour {
		t.Fatalf("first request %+v: want a dry run of every kind, 90d", cl.reqs)
	}
	if r := cl.reqs[1]; r.DryRun || len(r.OlderThan) != 1 || r.OlderThan[retention.Logs] != 14*24*time.Hour || r.Actor != "admin-token" {
		t.Fatalf("second request %+v", r)
	}
}
