package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/placement"
)

// TestNodeListAndStatusAgree: clawd node list and the nodes in clawd
// status are one summary, counting the namespaces placed on each node.
func TestNodeListAndStatusAgree(t *testing.T) {
	srv := New(Config{Token: adminToken, Node: "node-1"}, newMemStore(
		namespace.Spec{Name: "tenant-a", Node: "node-1"},
		namespace.Spec{Name: "tenant-b", Node: "node-1"},
		namespace.Spec{Name: "tenant-c", Node: "node-1", Deleting: true},
	), nil)
	rec := admin(t, srv, http.MethodGet, "/api/v1/nodes", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("node list: status %d: %s", rec.Code, rec.Body)
	}
	var list []placement.NodeSummary
	decodeInto(t, rec, &list)
	if len(list) != 1 || list[0].Name != "node-1" || list[0].Namespaces != 2 {
		t.Fatalf("node list %+v, want node-1 with 2 namespaces (the deleting one not counted)", list)
	}
	rec = admin(t, srv, http.MethodGet, "/api/v1/status", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status: status %d: %s", rec.Code, rec.Body)
	}
	var st StatusReply
	decodeInto(t, rec, &st)
	a, _ := json.Marshal(list)
	b, _ := json.Marshal(st.Nodes)
	if string(a) != string(b) {
		t.Errorf("status nodes %s, node list %s", b, a)
	}
	if st.Namespaces != 3 {
		t.Errorf("status counts %d namespaces, want 3", st.Namespaces)
	}
}
