package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/resources"
	"github.com/clawd-dev/clawd/runtime"
)

type budget struct{ b, u int64 }

func (f budget) MemoryBudget() (int64, int64) { return f.b, f.u }

func TestNamespaceResources(t *testing.T) {
	h := resources.New(time.Hour)
	now := time.Now()
	h.Observe("tenant-a", "c1", now.Add(-50*time.Minute), runtime.Stats{CPUUsage: time.Second, MemoryWorkingSet: 10 << 20})
	h.Observe("tenant-a", "c1", now.Add(-10*time.Minute), runtime.Stats{CPUUsage: 121 * time.Second, MemoryWorkingSet: 20 << 20, MemoryLimit: 1 << 30})
	st := newMemStore(namespace.Spec{Name: "tenant-a"}, namespace.Spec{Name: "tenant-b"})
	srv := New(Config{Token: adminToken, Node: "node-1", Resources: h}, st, nil)

	var rep ResourcesReply
	rec := admin(t, srv, http.MethodGet, "/api/v1/namespaces/tenant-a/resources", "")
	decodeInto(t, rec, &rep)
	if rec.Code != 200 || rep.Window != "1h0m0s" || rep.Node != "node-1" || len(rep.Points) != 2 {
		t.Fatalf("%d %+v", rec.Code, rep)
	}
	// 120 s of CPU in 40 minutes: 50 millicores.
	if p := rep.Points[1]; p.CPUMillis == nil || *p.CPUMillis != 50 || p.MemoryBytes != 20<<20 || p.MemoryLimitBytes != 1<<30 {
		t.Errorf("second point %+v", p)
	}
	if p := rep.Points[0]; p.CPUMillis != nil || p.MemoryBytes != 10<<20 {
		t.Errorf("points %+v", rep.Points)
	}
	rec = admin(t, srv, http.MethodGet, "/api/v1/namespaces/tenant-a/resources?window=15m", "")
	decodeInto(t, rec, &rep)
	if rec.Code != 200 || len(rep.Points) != 1 || rep.Window != "15m0s" {
		t.Errorf("window 15m: %d %+v", rec.Code, rep)
	}
	rec = admin(t, srv, http.MethodGet, "/api/v1/namespaces/tenant-b/resources", "")
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, `"points": []`) {
		t.Errorf("a namespace without readings: %d %s", rec.Code, body)
	}

	wantProblem(t, admin(t, srv, http.MethodGet, "/api/v1/namespaces/tenant-a/resources?window=soon", ""), 400, `window "soon"`)
	wantProblem(t, admin(t, srv, http.MethodGet, "/api/v1/namespaces/tenant-a/resources?window=2h", ""), 400, "longer than the 1h0m0s")
	wantProblem(t, admin(t, srv, http.MethodGet, "/api/v1/namespaces/nobody/resources", ""), 404)
	wantProblem(t, admin(t, srv, http.MethodGet, "/api/v1/namespaces/Bad_Name/resources", ""), 400)
	none := New(Config{Token: adminToken}, st, nil)
	wantProblem(t, admin(t, none, http.MethodGet, "/api/v1/namespaces/tenant-a/resources", ""), 409, "no resource history")
}

func TestStatusMemoryBudget(t *testing.T) {
	srv := New(Config{Token: adminToken, Memory: budget{8 << 30, 3 << 30}}, newMemStore(), nil)
	var rep StatusReply
	decodeInto(t, admin(t, srv, http.MethodGet, "/api/v1/status", ""), &rep)
	if rep.Memory == nil || rep.Memory.BudgetBytes != 8<<30 || rep.Memory.UsedBytes != 3<<30 {
		t.Fatalf("memory %+v", rep.Memory)
	}
	var without StatusReply
	decodeInto(t, admin(t, New(Config{Token: adminToken}, newMemStore(), nil), http.MethodGet, "/api/v1/status", ""), &without)
	if without.Memory != nil {
		t.Errorf("status without a budget source shows %+v", without.Memory)
	}
}
