package router

import (
	"time"

	"github.com/valyala/fasthttp"
)

// Outcomes of the router's credential and quota checks, as AuthEvent.Outcome.
const (
	AuthAccepted       = "accepted"        // a valid key (at most once a minute per key)
	AuthRefused        = "refused"         // an unknown or malformed key, or none where one is required
	AuthExpired        = "expired"         // the key's expiry has passed
	AuthRevoked        = "revoked"         // the key was revoked
	AuthWrongNamespace = "wrong_namespace" // a key used on another namespace's host
	AuthLogin          = "login"           // a browser logged in with a key
	AuthLoginFailed    = "login_failed"    // a login with a bad key
	AuthRateLimited    = "rate_limited"    // the key's own rate limit refused the request
	AuthOverQuota      = "over_quota"      // the namespace's requests-per-hour quota refused the request
)

// AuthEvent is one outcome of the router's checks, for the audit log.
type AuthEvent struct {
	Time      time.Time
	Namespace string // the key's namespace, else the host's, else ""
	KeyID     string
	Outcome   string
	Host      string
	Detail    string
}

// AuthAuditor is told of authentication outcomes and quota refusals; it
// must not block (the audit writer queues).
type AuthAuditor interface {
	AuditAuth(ev AuthEvent)
}

// acceptedEvery spaces a busy key's accepted events: one per minute per
// key says it is in use without a record per request (api_call is that).
const acceptedEvery = time.Minute

// AuditAuth sets the auditor.
func (r *Router) AuditAuth(a AuthAuditor) { r.auditor.Store(&a) }

func (r *Router) audit(ctx *fasthttp.RequestCtx, ns, keyID, outcome, detail string) {
	a := r.auditor.Load()
	if a == nil {
		return
	}
	(*a).AuditAuth(AuthEvent{Time: time.Now(), Namespace: ns, KeyID: keyID, Outcome: outcome, Host: string(ctx.Host()), Detail: detail})
}

// auditAccepted records a key's use at most once per acceptedEvery.
func (r *Router) auditAccepted(ctx *fasthttp.RequestCtx, st *keyState, e *keyEntry, now time.Time) {
	if r.auditor.Load() == nil {
		return
	}
	last := st.audited.Load()
	if now.UnixNano()-last < int64(acceptedEvery) || !st.audited.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	r.audit(ctx, e.namespace, e.id, AuthAccepted, "")
}

// badKeyOutcome names why lookup refused a key.
func badKeyOutcome(e *keyEntry) string {
	switch {
	case e == nil:
		return AuthRefused
	case e.revoked:
		return AuthRevoked
	}
	return AuthExpired
}

// CallAuditor is told of each OpenClaw request a client sends through a
// WebSocket ("type":"req" frames), with its RPC method ("" when the
// relay could not read one) and whether a quota refused it. HTTP requests
// reach it as Observer calls instead. It must not block: it runs on the
// relay's goroutine.
type CallAuditor interface {
	AuditCall(ns, keyID, method string, refused bool)
}

// AuditCalls sets the WebSocket request auditor; call it before serving.
func (r *Router) AuditCalls(a CallAuditor) { r.calls.Store(&a) }

func (r *Router) auditCall(ns, keyID, method string, refused bool) {
	if a := r.calls.Load(); a != nil {
		(*a).AuditCall(ns, keyID, method, refused)
	}
}
