package billing

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"github.com/clawd-dev/clawd/audit"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/internal/stripetest"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
)

// memStore is the state store in memory, with etcd's revision guards.
type memStore struct {
	mu     sync.Mutex
	rev    int64
	recs   map[string]memRec
	specs  map[string]namespace.Spec
	config map[string]string
	// failPut makes PutBilling of keys with this prefix fail.
	failPut string
}

type memRec struct {
	data []byte
	rev  int64
}

func newMemStore(namespaces ...string) *memStore {
	m := &memStore{recs: map[string]memRec{}, specs: map[string]namespace.Spec{}, config: map[string]string{}}
	for _, ns := range namespaces {
		m.specs[ns] = namespace.Spec{Name: ns, Node: "node-1"}
	}
	return m
}

func (m *memStore) GetBilling(_ context.Context, key string) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[key]
	if !ok {
		return nil, 0, fmt.Errorf("billing record %s: %w", key, store.ErrNotFound)
	}
	return bytes.Clone(r.data), r.rev, nil
}

func (m *memStore) PutBilling(_ context.Context, key string, data []byte, rev int64, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPut != "" && strings.HasPrefix(key, m.failPut) {
		return fmt.Errorf("writing billing record %s: injected failure", key)
	}
	r, ok := m.recs[key]
	switch {
	case rev == 0 && ok:
		return fmt.Errorf("billing record %s %w", key, store.ErrExists)
	case rev != 0 && (!ok || r.rev != rev):
		return fmt.Errorf("billing record %s %w", key, store.ErrChanged)
	}
	m.rev++
	m.recs[key] = memRec{data: bytes.Clone(data), rev: m.rev}
	return nil
}

func (m *memStore) ListBilling(_ context.Context, prefix string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]byte{}
	for k, r := range m.recs {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			out[rest] = bytes.Clone(r.data)
		}
	}
	return out, nil
}

func (m *memStore) DeleteBilling(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, key)
	return nil
}

func (m *memStore) GetNamespace(_ context.Context, name string) (namespace.Namespace, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sp, ok := m.specs[name]
	if !ok {
		return namespace.Namespace{}, fmt.Errorf("namespace %s: %w", name, store.ErrNotFound)
	}
	return namespace.Namespace{Spec: sp}, nil
}

func (m *memStore) ListNamespaces(_ context.Context) ([]namespace.Namespace, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []namespace.Namespace
	for _, sp := range m.specs {
		out = append(out, namespace.Namespace{Spec: sp})
	}
	return out, nil
}

func (m *memStore) UpdateSpec(_ context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sp, ok := m.specs[name]
	if !ok {
		return sp, fmt.Errorf("namespace %s: %w", name, store.ErrNotFound)
	}
	if err := fn(&sp); err != nil {
		return sp, err
	}
	m.specs[name] = sp
	return sp, nil
}

func (m *memStore) GetConfig(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.config[key]
	if !ok {
		return "", fmt.Errorf("config %s: %w", key, store.ErrNotFound)
	}
	return v, nil
}

func (m *memStore) spec(name string) namespace.Spec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.specs[name]
}

// quotaLog records what the billing service asked of quotas.
type quotaLog struct {
	mu    sync.Mutex
	calls []string
}

func (q *quotaLog) ApplyQuota(_ context.Context, ns string, file []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls = append(q.calls, "apply "+ns+" "+strings.SplitN(string(file), "\n", 2)[0])
	return nil
}

func (q *quotaLog) ClearQuota(_ context.Context, ns string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls = append(q.calls, "clear "+ns)
	return nil
}

func (q *quotaLog) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.calls
	q.calls = nil
	return out
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type fixture struct {
	audit  *auditLog
	svc    *Service
	st     *memStore
	quotas *quotaLog
	clock  *clock
	box    *secrets.Box
	stripe *stripetest.Proxy
}

const (
	testKey    = "sk_test_clawd123"
	testSecret = "whsec_clawdtest"
)

func testBox(t testing.TB) *secrets.Box {
	box, err := secrets.Load(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), "")
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// newFixture is a Service on a memory store behind a recording proxy to
// stripe-mock (skipped without it), not yet configured.
func newFixture(t *testing.T, namespaces ...string) *fixture {
	t.Helper()
	f := &fixture{st: newMemStore(namespaces...), quotas: &quotaLog{}, box: testBox(t), audit: &auditLog{},
		clock: &clock{t: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)}}
	f.stripe = stripetest.Start(t)
	f.svc = New(Config{Store: f.st, Secrets: f.box, Quotas: f.quotas, APIBase: f.stripe.URL, Node: "node-1",
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}), Now: f.clock.now, Audit: f.audit})
	return f
}

// configured is newFixture plus `billing configure`, with the recording reset.
func configured(t *testing.T, namespaces ...string) *fixture {
	t.Helper()
	f := newFixture(t, namespaces...)
	if _, err := f.svc.Configure(context.Background(), ConfigureRequest{Provider: "stripe", APIKey: testKey, WebhookSecret: testSecret}); err != nil {
		t.Fatal(err)
	}
	f.stripe.Reset()
	return f
}

// auditLog keeps the audit records billing makes, as "ns action".
type auditLog struct {
	mu   sync.Mutex
	recs []string
}

func (a *auditLog) Record(r audit.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r.Namespace+" "+r.Action)
}

func (a *auditLog) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.recs
	a.recs = nil
	return out
}
