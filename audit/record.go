// Package audit is clawd's audit log: who changed what, who was let in or
// refused, which requests a quota refused, when gateways woke and slept.
// Records live in the ledger's SQL database, one hash chain per namespace
// ("" is the cluster-wide chain), whose head is anchored in etcd so that
// rewriting or removing rows is detected by Verify.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Event types. Each record has exactly one; audit.events selects them per
// namespace.
const (
	TypeAPICall      = "api_call"      // a request through the router to a namespace's gateway
	TypeConfigChange = "config_change" // a dynamic config key set or deleted (before/after)
	TypeAPIKey       = "apikey"        // an API key created or revoked
	TypeAuth         = "auth"          // router key check: accepted, refused, expired, revoked; logins
	TypeNamespace    = "namespace"     // created, deleted, woken, put to sleep
	TypeQuota        = "quota"         // quota applied (before/after) or a request refused by a quota
	TypeBilling      = "billing"       // billing configuration, plans, subscriptions
	TypeSkill        = "skill"         // skills installed or removed; a gateway's tool calls through the model gateway
	TypeRetention    = "retention"     // data removed by namespace cleanup or the daily retention pass (counts)
	TypeAdmin        = "admin"         // any other admin API change (providers, …)
)

// Types lists every event type, in the order the documentation gives them.
var Types = []string{TypeAPICall, TypeConfigChange, TypeAPIKey, TypeAuth, TypeNamespace, TypeQuota, TypeBilling, TypeSkill, TypeRetention, TypeAdmin}

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeRefused = "refused"
)

// Record is one audited event. Seq, PrevHash and Hash are set when the
// record joins its namespace's chain (Log.Append).
type Record struct {
	Namespace string    `json:"namespace"` // "" for cluster-wide events
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Actor     string    `json:"actor"`  // "admin-token", "apikey:<id>", "console:<user>", "system"
	Action    string    `json:"action"` // what happened: "PUT /api/v1/config/{key}", "key_refused", "wake"
	Target    string    `json:"target,omitempty"`
	Outcome   string    `json:"outcome"`
	Detail    string    `json:"detail,omitempty"`
	Before    string    `json:"before,omitempty"`
	After     string    `json:"after,omitempty"`
	PrevHash  string    `json:"prevHash"`
	Hash      string    `json:"hash"`
}

// canonical is the encoding a record's hash covers: these fields in this
// order, as JSON (encoding/json: UTF-8, no insignificant space, HTML
// characters escaped), the time as microseconds since the Unix epoch.
// Changing it is changing the format: bump hashDomain.
type canonical struct {
	Namespace string `json:"ns"`
	Seq       int64  `json:"seq"`
	Micros    int64  `json:"ts"`
	Type      string `json:"type"`
	Actor     string `json:"actor"`
	Action    string `json:"action"`
	Target    string `json:"target"`
	Outcome   string `json:"outcome"`
	Detail    string `json:"detail"`
	Before    string `json:"before"`
	After     string `json:"after"`
	PrevHash  string `json:"prev"`
}

// hashDomain prefixes the hashed bytes, naming the format's version.
const hashDomain = "clawd-audit-v1\n"

// Canonical returns the bytes a record's hash covers.
func (r *Record) Canonical() []byte {
	b, _ := json.Marshal(canonical{
		Namespace: r.Namespace, Seq: r.Seq, Micros: r.Time.UnixMicro(), Type: r.Type, Actor: r.Actor,
		Action: r.Action, Target: r.Target, Outcome: r.Outcome, Detail: r.Detail,
		Before: r.Before, After: r.After, PrevHash: r.PrevHash,
	})
	return append([]byte(hashDomain), b...)
}

// ComputeHash is hex(SHA-256(Canonical())).
func (r *Record) ComputeHash() string {
	sum := sha256.Sum256(r.Canonical())
	return hex.EncodeToString(sum[:])
}

// GenesisHash is the PrevHash of a chain's first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// chain links r after (prevSeq, prevHash).
func (r *Record) chain(prevSeq int64, prevHash string) {
	r.Seq = prevSeq + 1
	r.PrevHash = prevHash
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	r.Hash = r.ComputeHash()
}
