package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/router"
)

type recorded []audit.Record

func (r *recorded) Record(rec audit.Record) { *r = append(*r, rec) }

func (r recorded) lines() []string {
	var out []string
	for _, x := range r {
		out = append(out, fmt.Sprintf("%s %s %s %s %s", x.Namespace, x.Type, x.Actor, x.Action, x.Outcome))
	}
	return out
}

func TestAuditSources(t *testing.T) {
	var r recorded
	a := authAudit{&r}
	a.AuditAuth(router.AuthEvent{Namespace: "a", KeyID: "key_1", Outcome: router.AuthAccepted})
	a.AuditAuth(router.AuthEvent{Namespace: "a", Outcome: router.AuthRefused})
	a.AuditAuth(router.AuthEvent{Namespace: "a", KeyID: "key_2", Outcome: router.AuthRevoked})
	a.AuditAuth(router.AuthEvent{Namespace: "a", KeyID: "key_1", Outcome: router.AuthLogin})
	a.AuditAuth(router.AuthEvent{Namespace: "a", Outcome: router.AuthOverQuota})
	quotaAudit{&r}.Refused("a", "openai", "gpt-4o", &quota.Refusal{Quota: quota.TokensPerDay, Limit: 10})
	p := phaseAudit{&r}
	p.PhaseChanged("a", namespace.PhaseStopped, namespace.PhaseStarting, "")
	p.PhaseChanged("a", namespace.PhaseStarting, namespace.PhaseRunning, "")
	p.PhaseChanged("a", namespace.PhaseRunning, namespace.PhasePaused, "")
	want := []string{
		"a auth apikey:key_1 key_accepted success",
		"a auth anonymous key_refused refused",
		"a auth apikey:key_2 key_revoked refused",
		"a auth apikey:key_1 login success",
		"a quota anonymous over_quota refused",
		"a quota system quota_refused refused",
		"a namespace system wake success",
		"a namespace system sleep success",
	}
	if got := r.lines(); !slices.Equal(got, want) {
		t.Fatalf("records\n%q\nwant\n%q", got, want)
	}
	if r[7].Before != "Running" || r[7].After != "Paused" {
		t.Errorf("sleep before/after: %+v", r[7])
	}
}
