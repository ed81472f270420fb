package retention

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
)

type fakeStore struct {
	ns     map[string]namespace.Namespace
	config map[string]string
}

func (f *fakeStore) GetNamespace(_ context.Context, name string) (namespace.Namespace, error) {
	return f.ns[name], nil
}

func (f *fakeStore) ListNamespaces(context.Context) ([]namespace.Namespace, error) {
	var out []namespace.Namespace
	for _, n := range f.ns {
		out = append(out, n)
	}
	return out, nil
}
func (f *fakeStore) ListConfig(context.Context) (map[string]string, error) { return f.config, nil }

type fakeVolumes map[string]string

func (v fakeVolumes) DataDir(_ context.Context, ns, _ string) (string, error) {
	if d, ok := v[ns]; ok {
		return d, nil
	}
	return "", runtime.ErrNotFound
}

type fakeLedger struct{ purged []string }

func (l *fakeLedger) PurgeNamespace(_ context.Context, ns string, cutoff time.Time, dryRun bool) (ledger.PurgeResult, error) {
	if !dryRun {
		l.purged = append(l.purged, ns)
	}
	return ledger.PurgeResult{Events: 3, Hourly: 1}, nil
}

type recs []audit.Record

func (r *recs) Record(x audit.Record) { *r = append(*r, x) }

func nsIn(name string, phase namespace.Phase) namespace.Namespace {
	return namespace.Namespace{Spec: namespace.Spec{Name: name}, Status: namespace.Status{Phase: phase}}
}

func TestCleanerDefersARunningDatabaseAndAuditsRemovals(t *testing.T) {
	vol := t.TempDir()
	agentDB(t, vol)
	write(t, vol, "logs/old.log", "12345", old)
	st := &fakeStore{ns: map[string]namespace.Namespace{"run": nsIn("run", namespace.PhaseRunning)}}
	var rec recs
	l := &fakeLedger{}
	c := &Cleaner{Volumes: fakeVolumes{"run": vol}, Ledger: l, Store: st, Audit: &rec, Now: func() time.Time { return now }}
	all := map[Kind]time.Duration{Conversations: 90 * 24 * time.Hour, Logs: 90 * 24 * time.Hour, Metrics: 90 * 24 * time.Hour}

	rep, err := c.Clean(context.Background(), Request{Namespace: "run", OlderThan: all, DryRun: true, Actor: "admin-token"})
	if err != nil {
		t.Fatal(err)
	}
	if k := rep.Kinds[0]; k.Kind != Conversations || k.Deferred == "" || k.Count != 0 {
		t.Fatalf("running: conversations %+v; want the database deferred", k)
	}
	if len(rec) != 0 || len(l.purged) != 0 {
		t.Fatalf("a dry run audited %v or purged %v", rec, l.purged)
	}

	st.ns["run"] = nsIn("run", namespace.PhaseStopped)
	rep, err = c.Clean(context.Background(), Request{Namespace: "run", OlderThan: all, Actor: "admin-token"})
	if err != nil || rep.Failed() {
		t.Fatalf("cleanup: %+v, %v", rep, err)
	}
	got := map[Kind]int64{}
	for _, k := range rep.Kinds {
		got[k.Kind] = k.Count
	}
	if got[Conversations] != 2 || got[Logs] != 1 || got[Metrics] != 4 {
		t.Fatalf("stopped: counts %v; want 2 conversations, 1 log, 4 rows", got)
	}
	if len(rec) != 1 || rec[0].Type != audit.TypeRetention || rec[0].Namespace != "run" || !strings.Contains(rec[0].Detail, "logs older than 90d: 1 (5 bytes)") {
		t.Fatalf("audit %+v", rec)
	}

	// No volume: the file kinds say so; metrics still go.
	st.ns["gone"] = nsIn("gone", namespace.PhaseEvicted)
	rep, err = c.Clean(context.Background(), Request{Namespace: "gone", OlderThan: all})
	if err != nil || rep.Kinds[0].Deferred != "the namespace has no data volume" || rep.Failed() {
		t.Fatalf("no volume: %+v, %v", rep, err)
	}
}

func TestPassAppliesOnlyConfiguredKinds(t *testing.T) {
	vol := t.TempDir()
	oldLog := write(t, vol, "logs/old.log", "x", old)
	oldT := write(t, vol, "agents/main/sessions/a.jsonl", "x", old)
	st := &fakeStore{
		ns:     map[string]namespace.Namespace{"a": nsIn("a", namespace.PhaseStopped), "b": nsIn("b", namespace.PhaseStopped)},
		config: map[string]string{"namespaces.a.dataRetention.logs": "30d", "namespaces.b.dataRetention.logs": "bogus"},
	}
	var rec recs
	l := &fakeLedger{}
	c := &Cleaner{Volumes: fakeVolumes{"a": vol}, Ledger: l, Store: st, Audit: &rec, Now: func() time.Time { return now }}
	if err := c.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exists(oldLog) || !exists(oldT) || len(l.purged) != 0 {
		t.Fatalf("pass: log removed %v, transcript kept %v, purged %v", !exists(oldLog), exists(oldT), l.purged)
	}
	if len(rec) != 1 || rec[0].Action != "retention" || rec[0].Actor != "system" {
		t.Fatalf("audit %+v", rec)
	}
}
