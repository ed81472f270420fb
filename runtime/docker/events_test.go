package docker

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/events"

	"github.com/clawd-dev/clawd/runtime"
)

// TestEventFromMessage maps a real GET /v1.41/events stream recorded from
// Docker 20.10 (create, start, pause, unpause, exec, stop, destroy, and an
// OOM kill of another container).
func TestEventFromMessage(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []runtime.EventKind
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m events.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		ev, ok := newRuntime(nil, Config{ClusterID: "c"}).eventFromMessage(m)
		if !ok {
			continue
		}
		if ev.ContainerID != m.Actor.ID || ev.At.IsZero() || ev.Namespace == "" {
			t.Errorf("event %+v from %+v", ev, m)
		}
		got = append(got, ev.Kind)
	}
	want := []runtime.EventKind{
		runtime.EventOther, // create
		runtime.EventStart, runtime.EventPause, runtime.EventUnpause,
		// exec_create, exec_start, exec_die are dropped
		runtime.EventOther, // kill
		runtime.EventDie,
		runtime.EventOther, // stop
		runtime.EventDestroy,
		runtime.EventOOM,
	}
	if len(got) != len(want) {
		t.Fatalf("kinds = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("kinds = %v, want %v", got, want)
		}
	}
}

func TestEventFromMessageSkipsForeignRoles(t *testing.T) {
	m := events.Message{Action: events.ActionStart, Actor: events.Actor{ID: "x", Attributes: map[string]string{
		runtime.LabelNamespace: "acme", runtime.LabelRole: "helper",
	}}}
	if _, ok := newRuntime(nil, Config{ClusterID: "c"}).eventFromMessage(m); ok {
		t.Error("event of a non-gateway container was passed on")
	}
}

func TestEventFromMessageOfSpares(t *testing.T) {
	r := newRuntime(nil, Config{ClusterID: "0123456789abcdef"})
	tests := []struct {
		name, role, nsLabel string
		ok                  bool
		want                string
	}{
		{"clawd-01234567.spare-s1", "spare", "", true, ""},
		{"clawd-01234567-acme", "spare", "", true, "acme"},
		{"clawd-01234567-acme", "gateway", "acme", true, "acme"},
		{"clawd-01234567-acme", "gateway", "", false, ""},
		{"clawd-01234567-acme", "data", "acme", false, ""},
	}
	for _, tt := range tests {
		m := events.Message{Action: events.ActionStart, Actor: events.Actor{ID: "x", Attributes: map[string]string{
			"name": tt.name, runtime.LabelRole: tt.role, runtime.LabelNamespace: tt.nsLabel,
		}}}
		ev, ok := r.eventFromMessage(m)
		if ok != tt.ok || ev.Namespace != tt.want || (ok && ev.Kind != runtime.EventStart) {
			t.Errorf("%s/%s: %+v %v, want namespace %q ok %v", tt.name, tt.role, ev, ok, tt.want, tt.ok)
		}
	}
}
