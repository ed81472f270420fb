package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/modelgw"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/router"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/supervisor"
)

// auditing is the audit part of `clawd up`: the log in the ledger's
// database, its batching writer anchoring heads in etcd, and the policy
// (audit.enabled, audit.events) it records by.
type auditing struct {
	log    *audit.Log
	writer *audit.Writer
	anchor audit.Anchor
	policy *audit.Policy
	ship   *audit.Shipper
	cancel context.CancelFunc
	done   chan struct{}
}

func newAuditing(l *ledger.Ledger, st *store.Store, log hclog.Logger) *auditing {
	g := audit.New(l)
	p := &audit.Policy{}
	a := &auditing{log: g, anchor: st, done: make(chan struct{}), policy: p,
		ship: &audit.Shipper{URL: p.ElasticURL, Client: &http.Client{Timeout: 30 * time.Second}, Log: log.Named("audit")}}
	a.writer = audit.NewWriter(g, audit.WriterOptions{FlushEvery: 200 * time.Millisecond, Filter: p.Selects, Anchor: st,
		Committed: a.shipSome, Logger: log.Named("audit")})
	return a
}

// shipSome queues the committed records of namespaces whose audit.backend
// is elasticsearch.
func (a *auditing) shipSome(recs []audit.Record) {
	var out []audit.Record
	for _, r := range recs {
		if a.policy.Ships(r.Namespace) {
			out = append(out, r)
		}
	}
	if len(out) > 0 {
		a.ship.Add(out)
	}
}

// run records until ctx ends; wait then returns after the last flush.
func (a *auditing) run(ctx context.Context, st *store.Store) {
	ctx, a.cancel = context.WithCancel(ctx)
	go a.policy.Watch(ctx, st.WatchConfig(ctx))
	go func() { a.writer.Run(ctx); close(a.done) }()
	go a.ship.Run(ctx)
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

// The sources: each turns another subsystem's events into records.

// authAudit records the router's credential outcomes and its refusals.
type authAudit struct{ rec audit.Recorder }

var _ router.AuthAuditor = authAudit{}

func (a authAudit) AuditAuth(ev router.AuthEvent) {
	r := audit.Record{Namespace: ev.Namespace, Time: ev.Time, Type: audit.TypeAuth, Actor: "anonymous",
		Action: "key_" + ev.Outcome, Target: ev.Host, Outcome: audit.OutcomeRefused, Detail: ev.Detail}
	if ev.KeyID != "" {
		r.Actor = "apikey:" + ev.KeyID
	}
	switch ev.Outcome {
	case router.AuthAccepted:
		r.Outcome = audit.OutcomeSuccess
	case router.AuthLogin:
		r.Action, r.Outcome = "login", audit.OutcomeSuccess
	case router.AuthLoginFailed:
		r.Action = "login"
	case router.AuthRateLimited, router.AuthOverQuota:
		r.Type, r.Action = audit.TypeQuota, ev.Outcome
	}
	a.rec.Record(r)
}

// quotaAudit records calls the model quotas refuse.
type quotaAudit struct{ rec audit.Recorder }

var _ quota.RefusalObserver = quotaAudit{}

func (q quotaAudit) Refused(ns, provider, model string, r *quota.Refusal) {
	target := model
	if provider != "" {
		target = provider + "/" + model
	}
	q.rec.Record(audit.Record{Namespace: ns, Type: audit.TypeQuota, Actor: "system", Action: "quota_refused",
		Target: target, Outcome: audit.OutcomeRefused, Detail: r.Error()})
}

// phaseAudit records wakes, sleeps and failures of gateways.
type phaseAudit struct{ rec audit.Recorder }

var _ supervisor.PhaseObserver = phaseAudit{}

func (p phaseAudit) PhaseChanged(ns string, from, to namespace.Phase, reason string) {
	action := ""
	switch to {
	case namespace.PhaseRunning:
		action = "wake"
	case namespace.PhasePaused, namespace.PhaseCompressed, namespace.PhaseStopped, namespace.PhaseEvicted:
		action = "sleep"
	case namespace.PhaseFailed:
		action = "failed"
	default:
		return
	}
	outcome := audit.OutcomeSuccess
	if action == "failed" {
		outcome = audit.OutcomeFailure
	}
	p.rec.Record(audit.Record{Namespace: ns, Type: audit.TypeNamespace, Actor: "system", Action: action,
		Outcome: outcome, Before: string(from), After: string(to), Detail: reason})
}

// apiCallAudit records api_call events: every request the router sent to
// (or refused for) a namespace, HTTP or WebSocket, when it ends, and each
// OpenClaw request a WebSocket carried. The writer queues: the request
// path pays a map lookup (audit.events) and an append under a lock; a full
// queue drops the record and counts it (clawd_audit_dropped_total).
type apiCallAudit struct{ rec audit.Recorder }

var (
	_ router.PeerServedObserver = apiCallAudit{}
	_ router.CallAuditor        = apiCallAudit{}
)

// ObservesPeerServed: the node that serves a forwarded request audits it.
func (apiCallAudit) ObservesPeerServed() {}

func (a apiCallAudit) ObserveRequest(i *router.RequestInfo) {
	if i.Namespace == "" || i.Peer != "" {
		return // refused before routing (the auth events say why), or the peer node audits it
	}
	r := audit.Record{Namespace: i.Namespace, Time: i.Start, Type: audit.TypeAPICall, Actor: callActor(i.KeyID, i.User),
		Action: i.Method + " " + i.Path, Target: i.Host, Outcome: audit.OutcomeSuccess,
		Detail: "status " + strconv.Itoa(i.Status) + ", " + i.Duration.Round(time.Millisecond).String()}
	switch {
	case i.Status == http.StatusSwitchingProtocols:
		r.Detail = "websocket closed after " + i.Duration.Round(time.Second).String()
	case i.Status == http.StatusUnauthorized || i.Status == http.StatusForbidden || i.Status == http.StatusTooManyRequests:
		r.Outcome = audit.OutcomeRefused
	case i.Status >= 400:
		r.Outcome = audit.OutcomeFailure
	}
	a.rec.Record(r)
}

func (a apiCallAudit) AuditCall(ns, keyID, method string, refused bool) {
	r := audit.Record{Namespace: ns, Type: audit.TypeAPICall, Actor: callActor(keyID, ""), Action: "ws " + method,
		Outcome: audit.OutcomeSuccess, Detail: "forwarded"}
	if method == "" {
		r.Action = "ws (unreadable method)"
	}
	if refused {
		r.Outcome, r.Detail = audit.OutcomeRefused, "over the requests-per-hour quota"
	}
	a.rec.Record(r)
}

func callActor(keyID, user string) string {
	switch {
	case keyID != "":
		return "apikey:" + keyID
	case user != "":
		return user
	}
	return "anonymous"
}

// register exposes the writer's drops in /metrics.
func (a *auditing) register(reg prometheus.Registerer) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "clawd_audit_dropped_total",
		Help: "Audit records dropped because the writer's queue was full (the database could not keep up)."},
		func() float64 { return float64(a.writer.Dropped()) }))
}

// toolAudit passes model usage on and records a skill event for each
// model reply that asked the gateway to run tools: the model gateway counts
// the tool calls (it does not keep their names), so the record says how
// many, for which model.
type toolAudit struct {
	next modelgw.Sink
	rec  audit.Recorder
}

func (t toolAudit) Record(u modelgw.Usage) {
	t.next.Record(u)
	if u.Namespace == "" || u.ToolCalls <= 0 {
		return
	}
	target := u.Model
	if u.Provider != "" {
		target = u.Provider + "/" + u.Model
	}
	t.rec.Record(audit.Record{Namespace: u.Namespace, Time: u.Time, Type: audit.TypeSkill, Actor: "gateway", Action: "tool_calls",
		Target: target, Outcome: audit.OutcomeSuccess, Detail: strconv.FormatInt(u.ToolCalls, 10) + " tool call(s) asked for by the model"})
}
