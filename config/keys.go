// Package config holds clawd's two kinds of configuration: the static
// options `clawd up` reads once (static.go) and the registry of dynamic keys
// that `clawd config set KEY VALUE` writes while the daemon runs (keys.go),
// which validates keys and values and resolves a namespace's effective
// value; storing and watching those values is the store's job.
package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Kind is the type of a key's value, which decides how Normalize checks it.
type Kind int

// Kinds of values.
const (
	String   Kind = iota // free text without whitespace, e.g. a model name
	Bool                 // "true" or "false"
	Int                  // a whole number within Key.Min..Key.Max
	Duration             // units.ParseDuration: "90d", "1h"
	Enum                 // one of Key.Enum, matched case-insensitively
	Path                 // an absolute path, stored cleaned
	List                 // comma-separated items of Key.Enum
	Decimal              // a non-negative amount, at most 6 decimals: "0.50"
)

var kindNames = [...]string{"string", "bool", "int", "duration", "enum", "path", "list", "decimal"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Key describes one configuration key.
type Key struct {
	// Pattern is the dotted key; "*" stands for the namespace in keys under
	// "namespaces.", e.g. "namespaces.*.models.primary".
	Pattern     string
	Kind        Kind
	Enum        []string // Enum and List: the accepted values, canonically spelled
	Min, Max    int64    // Int: the accepted range
	Description string
	Default     string // "" = none
	// Implemented is false for keys that are stored but that no feature
	// reads yet, so `config set` can warn instead of pretending.
	Implemented bool
}

// nsPrefix starts the keys that exist once per namespace.
const nsPrefix = "namespaces.*."

// Namespaced reports whether the key exists per namespace.
func (k Key) Namespaced() bool { return strings.HasPrefix(k.Pattern, nsPrefix) }

// Leaf is the key without "namespaces.*." ("models.primary"), the form
// Effective takes; global keys are returned whole.
func (k Key) Leaf() string { return strings.TrimPrefix(k.Pattern, nsPrefix) }

// Name is the concrete key for namespace ns ("*" for the default of every
// namespace); global keys ignore ns. Store values under this name.
func (k Key) Name(ns string) string {
	if !k.Namespaced() {
		return k.Pattern
	}
	return "namespaces." + ns + "." + k.Leaf()
}

// auditEvents are audit's event types (audit.Types) and "all".
var auditEvents = []string{"all", "api_call", "config_change", "apikey", "auth", "namespace", "quota", "billing", "skill", "retention", "admin"}

// registry holds every key; keep it sorted by Pattern (a test checks).
var registry = []Key{
	{Pattern: "audit.elasticsearch.url", Kind: String, Implemented: true,
		Description: "Elasticsearch base URL the audit records of namespaces with audit.backend elasticsearch are shipped to (_bulk API, index clawd-audit)"},
	{Pattern: "billing.gracePeriod", Kind: Duration, Default: "72h", Implemented: true,
		Description: "how long a namespace whose invoice payment failed keeps running before it is put to sleep and its requests get 402"},
	{Pattern: "metering.backend", Kind: Enum, Enum: []string{"ledger", "prometheus"}, Default: "ledger", Implemented: true,
		Description: "ledger: usage events in the SQL ledger; prometheus: the ledger too, and clawd_usage_* counters per namespace on /metrics"},
	{Pattern: "metering.currency", Kind: String, Default: "USD", Implemented: true,
		Description: "currency of the metering.prices.* amounts, as shown on reports"},
	{Pattern: "metering.enabled", Kind: Bool, Default: "true", Implemented: true,
		Description: "record per-namespace usage (requests, tokens, skills, storage, compute) for reports and billing"},
	{Pattern: "metering.prices.apiRequests", Kind: Decimal, Implemented: true,
		Description: "price of 1,000 API requests on metering reports (unset: no api_calls cost)"},
	{Pattern: "metering.prices.cpu", Kind: Decimal, Implemented: true,
		Description: "price of one CPU-hour of a gateway on metering reports (unset: no compute cost for CPU)"},
	{Pattern: "metering.prices.memory", Kind: Decimal, Implemented: true,
		Description: "price of one GiB-hour of gateway memory on metering reports (unset: no compute cost for memory)"},
	{Pattern: "metering.prices.storage", Kind: Decimal, Implemented: true,
		Description: "price of one GiB-month of namespace storage on metering reports (unset: no storage cost)"},
	{Pattern: "metering.prices.tokens", Kind: Decimal, Implemented: true,
		Description: "price of 1,000,000 model tokens (input and output) on metering reports (unset: no tokens cost)"},
	{Pattern: "metering.retention", Kind: Duration, Default: "90d", Implemented: true,
		Description: "how long raw usage events are kept (whole days); hourly roll-ups are kept for billing"},
	{Pattern: "namespaces.*.audit.backend", Kind: Enum, Enum: []string{"builtin", "file", "elasticsearch"}, Default: "builtin", Implemented: true,
		Description: "builtin: the ledger; elasticsearch: the ledger, and shipped to audit.elasticsearch.url; file: accepted, but the ledger only (not built)"},
	{Pattern: "namespaces.*.audit.enabled", Kind: Bool, Default: "true", Implemented: true,
		Description: "keep an audit log for the namespace (false: nothing about it is recorded from then on)"},
	{Pattern: "namespaces.*.audit.events", Kind: List, Enum: auditEvents, Default: "all", Implemented: true,
		Description: `audited event types: "all" or a comma-separated list`},
	{Pattern: "namespaces.*.auth.requireKey", Kind: Bool, Default: "true", Implemented: true,
		Description: "refuse requests without one of the namespace's API keys, even through its hostnames (browsers log in once at /__clawd/login)"},
	{Pattern: "namespaces.*.autoCleanup.after", Kind: Duration, Default: "1h", Implemented: true,
		Description: "how long a namespace may be idle before automatic cleanup"},
	{Pattern: "namespaces.*.autoCleanup.enabled", Kind: Bool, Default: "true", Implemented: true,
		Description: "let the reaper reclaim resources of idle namespaces"},
	{Pattern: "namespaces.*.dataRetention.conversations", Kind: Duration, Implemented: true,
		Description: "how long conversations are kept: OpenClaw's transcript files, and its agent database's conversations while the namespace is stopped (the daily retention pass; unset: forever)"},
	{Pattern: "namespaces.*.dataRetention.logs", Kind: Duration, Implemented: true,
		Description: "how long the gateway's log files in its data volume are kept (the daily retention pass; unset: forever)"},
	{Pattern: "namespaces.*.dataRetention.metrics", Kind: Duration, Implemented: true,
		Description: "how long the namespace's usage rows (raw events and roll-ups) are kept in the ledger (the daily retention pass; unset: forever)"},
	{Pattern: "namespaces.*.encryption.algorithm", Kind: Enum, Enum: []string{"AES-256-GCM", "ChaCha20-Poly1305"}, Implemented: true,
		Description: "AEAD sealing what clawd stores for the namespace (its sign-in client secret, its wrapped volume key; default AES-256-GCM); volumes are always fscrypt's AES-256-XTS"},
	{Pattern: "namespaces.*.encryption.enabled", Kind: Bool, Implemented: true,
		Description: "encrypt the namespace's data volume at rest (fscrypt: AES-256-XTS contents, AES-256-CTS names; the key wrapped by the secrets key, in the kernel only while the gateway runs)"},
	{Pattern: "namespaces.*.encryption.keySource", Kind: Enum, Enum: []string{"local", "vault", "env"}, Implemented: true,
		Description: "key source wrapping the namespace's volume key (local: the key file or CLAWD_SECRETS_KEY; vault and env only when clawd runs with that --secrets.keySource; default: the daemon's)"},
	{Pattern: "namespaces.*.idle.compressAfter", Kind: Duration, Default: "15m", Implemented: true,
		Description: "idle time after which the paused gateway's memory is squeezed into compressed swap (zram); woken in about the time of a paused one"},
	{Pattern: "namespaces.*.idle.evictAfter", Kind: Duration, Default: "24h", Implemented: true,
		Description: "idle time after which the gateway container is removed (volumes kept)"},
	{Pattern: "namespaces.*.idle.pauseAfter", Kind: Duration, Default: "5m", Implemented: true,
		Description: "idle time after which the gateway is paused"},
	{Pattern: "namespaces.*.minInstances", Kind: Int, Min: 0, Max: 1, Default: "0", Implemented: true,
		Description: "gateways kept running even when idle (1 = never sleep)"},
	{Pattern: "namespaces.*.models.fallback", Kind: String, Implemented: true,
		Description: "model used when the primary one fails, as provider/model, e.g. anthropic/claude-haiku-4-5"},
	{Pattern: "namespaces.*.models.primary", Kind: String, Implemented: true,
		Description: "the namespace's default model, as provider/model, e.g. anthropic/claude-sonnet-4-5"},
	{Pattern: "namespaces.*.skills.isolation", Kind: Enum, Enum: []string{"strict", "shared"}, Default: "strict", Implemented: true,
		Description: "strict: no other namespace's skills.path may overlap this one's; shared: namespaces that are all shared may use one directory"},
	{Pattern: "namespaces.*.skills.path", Kind: Path, Implemented: true,
		Description: "host directory of skills mounted read-only into the namespace's gateway (a change re-creates the gateway)"},
	{Pattern: "namespaces.*.warmupOnCreate", Kind: Bool, Default: "true", Implemented: true,
		Description: "a new namespace adopts a pre-started warm-pool gateway when one is free (the default of namespace create --warmup-on-create)"},
	{Pattern: "security.crossNamespaceAccess", Kind: Bool, Default: "false",
		Description: "allow one namespace to reach another's data"},
}

// Keys returns every key, sorted by Pattern.
func Keys() []Key {
	out := make([]Key, len(registry))
	copy(out, registry)
	for i := range out { // callers must not be able to edit the registry's enums
		out[i].Enum = append([]string(nil), out[i].Enum...)
	}
	return out
}

func find(pattern string) (Key, bool) {
	i := sort.Search(len(registry), func(i int) bool { return registry[i].Pattern >= pattern })
	if i < len(registry) && registry[i].Pattern == pattern {
		return registry[i], true
	}
	return Key{}, false
}

// nsNameRE is namespace.ValidateName's rule, repeated so that config stays a
// leaf package the namespace package may import.
var nsNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

// Lookup resolves a concrete key to its Key and namespace: "*" for the
// every-namespace default, "" for global keys.
func Lookup(key string) (Key, string, error) {
	pattern, ns := key, ""
	if rest, ok := strings.CutPrefix(key, "namespaces."); ok {
		ns, rest, _ = strings.Cut(rest, ".")
		pattern = nsPrefix + rest
	}
	k, ok := find(pattern)
	if !ok {
		return Key{}, "", unknownKey(key)
	}
	if k.Namespaced() && ns != "*" && !nsNameRE.MatchString(ns) {
		return Key{}, "", fmt.Errorf("config key %q: invalid namespace %q: want lowercase letters, digits and "+
			"inner dashes, at most 40 characters, or * for every namespace", key, ns)
	}
	return k, ns, nil
}

func unknownKey(key string) error {
	hint := ""
	if s := suggest(key); s != "" {
		hint = fmt.Sprintf(" (did you mean %s?)", s)
	}
	return fmt.Errorf("unknown config key %q%s; valid keys, with <ns> a namespace or * for all: %s",
		key, hint, compactPatterns())
}

// suggest returns the key that differs from key only in case. Keys are
// case-sensitive because Effective matches them exactly, so a second
// spelling is pointed at rather than accepted.
func suggest(key string) string {
	_, rest, _ := strings.Cut(key, ".")
	ns, _, _ := strings.Cut(rest, ".") // the namespace, if key is one of its keys
	for _, k := range registry {
		if name := k.Name(strings.ToLower(ns)); strings.EqualFold(key, name) {
			return name
		}
	}
	return ""
}

// compactPatterns lists the keys as PRODUCT.md does, siblings joined by "|":
// "metering.backend|enabled|retention, namespaces.<ns>.models.fallback|primary, …".
func compactPatterns() string {
	var groups []string
	for i := 0; i < len(registry); {
		parent, leaf := splitLast(registry[i].Pattern)
		leaves := []string{leaf}
		for i++; i < len(registry); i++ {
			p, l := splitLast(registry[i].Pattern)
			if p != parent {
				break
			}
			leaves = append(leaves, l)
		}
		groups = append(groups, strings.Replace(parent, "*", "<ns>", 1)+"."+strings.Join(leaves, "|"))
	}
	return strings.Join(groups, ", ")
}

func splitLast(pattern string) (parent, leaf string) {
	i := strings.LastIndexByte(pattern, '.')
	return pattern[:i], pattern[i+1:]
}

// Effective is the value that applies to namespace ns for leaf (e.g.
// "models.primary"): namespaces.<ns>.<leaf>, else namespaces.*.<leaf>, else
// the key's default. For a global key pass its whole name as leaf. values
// holds stored values by concrete key, as Normalize returned them.
func Effective(values map[string]string, ns, leaf string) (string, bool) {
	k, ok := find(nsPrefix + leaf)
	if !ok {
		if k, ok = find(leaf); !ok {
			return "", false
		}
	}
	names := []string{k.Name(ns), k.Name("*")}
	if !k.Namespaced() {
		names = names[:1]
	}
	for _, name := range names {
		if v, ok := values[name]; ok {
			return v, true
		}
	}
	return k.Default, k.Default != ""
}
