package main

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/store"
)

// auditing is the audit part of `clawd up`: the log in the ledger's
// database, its batching writer anchoring heads in etcd, and the policy
// (audit.enabled, audit.events) it records by.
type auditing struct {
	log    *audit.Log
	writer *audit.Writer
	anchor audit.Anchor
	policy *audit.Policy
	cancel context.CancelFunc
	done   chan struct{}
}

func newAuditing(l *ledger.Ledger, st *store.Store, log hclog.Logger) *auditing {
	g := audit.New(l)
	p := &audit.Policy{}
	a := &auditing{log: g, anchor: st, done: make(chan struct{}), policy: p}
	a.writer = audit.NewWriter(g, audit.WriterOptions{FlushEvery: 200 * time.Millisecond, Filter: p.Selects, Anchor: st, Logger: log.Named("audit")})
	return a
}

// run records until ctx ends; wait then returns after the last flush.
func (a *auditing) run(ctx context.Context, st *store.Store) {
	ctx, a.cancel = context.WithCancel(ctx)
	go a.policy.Watch(ctx, st.WatchConfig(ctx))
	go func() { a.writer.Run(ctx); close(a.done) }()
}

// wait stops the writer after its last flush (before the ledger closes).
func (a *auditing) wait() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
	}
}

// checked is the log with its anchor, for the admin API.
func (a *auditing) checked() audit.Checked { return audit.Checked{Log: a.log, Anchor: a.anchor} }
