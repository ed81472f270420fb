package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

// Store is what billing needs from the state store.
type Store interface {
	GetBilling(ctx context.Context, key string) ([]byte, int64, error)
	PutBilling(ctx context.Context, key string, data []byte, rev int64, ttl time.Duration) error
	ListBilling(ctx context.Context, prefix string) (map[string][]byte, error)
	DeleteBilling(ctx context.Context, key string) error
	GetNamespace(ctx context.Context, name string) (namespace.Namespace, error)
	ListNamespaces(ctx context.Context) ([]namespace.Namespace, error)
	UpdateSpec(ctx context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error)
	GetConfig(ctx context.Context, key string) (string, error)
}

var _ Store = (*store.Store)(nil)

// Sealer seals and opens the Stripe keys (secrets.Box).
type Sealer interface {
	Seal(plain []byte, context string) (string, error)
	Open(sealed, context string) ([]byte, error)
}

// Quotas applies a plan's quota file to a namespace exactly as
// `clawd namespace apply-quota` does, and removes it.
type Quotas interface {
	ApplyQuota(ctx context.Context, ns string, file []byte) error
	ClearQuota(ctx context.Context, ns string) error
}

// Record keys in the store.
const (
	keySettings  = "settings"
	prefixPlan   = "plans/"
	prefixCust   = "customers/"
	prefixEvent  = "events/"
	prefixCursor = "usage-cursor/"
)

// Settings is what `clawd billing configure` stored.
type Settings struct {
	Provider            string    `json:"provider"`
	SealedAPIKey        string    `json:"sealedApiKey"`
	SealedWebhookSecret string    `json:"sealedWebhookSecret"`
	ConfiguredAt        time.Time `json:"configuredAt"`
	// Meters are the Stripe meter ids by usage kind, created with the
	// first plan that prices that kind.
	Meters map[string]string `json:"meters,omitempty"`
}

// Seal contexts: a sealed value copied to another record does not open.
const (
	ctxAPIKey        = "billing/stripe/api-key"
	ctxWebhookSecret = "billing/stripe/webhook-secret"
)

// SettingsKey is the settings record's key in the store's billing records.
const SettingsKey = keySettings

// SealedSettings names the settings record's sealed JSON fields and the
// context each is sealed with, for key rotation.
var SealedSettings = map[string]string{"sealedApiKey": ctxAPIKey, "sealedWebhookSecret": ctxWebhookSecret}

// Plan is a plan as stored and listed.
type Plan struct {
	Name      string `json:"name"`
	Amount    int64  `json:"amount"` // minor units
	Currency  string `json:"currency"`
	Interval  string `json:"interval"`
	ProductID string `json:"productId"`
	PriceID   string `json:"priceId"`
	// Quotas is the quota file as given; applied to each subscriber.
	Quotas    string         `json:"quotas,omitempty"`
	Metered   []MeteredPrice `json:"metered,omitempty"`
	CreatedAt time.Time      `json:"createdAt"`
}

// MeteredPrice is a usage-based price of a plan.
type MeteredPrice struct {
	Kind string `json:"kind"` // tokens, requests, storage
	// UnitAmountDecimal is minor units per one unit of Kind.
	UnitAmountDecimal string `json:"unitAmountDecimal"`
	Per               string `json:"per"` // what the operator priced, e.g. "1000 tokens"
	Price             string `json:"price"`
	PriceID           string `json:"priceId"`
	MeterID           string `json:"meterId"`
}

// Usage kinds sent as meter events; each is one Stripe meter (sum).
type kind struct {
	name, eventName, unit string
	per                   int64 // the operator's price is per this many units
	perText               string
	value                 func(h ledger.Hour) int64 // from one namespace's roll-up of one hour
}

var kinds = []kind{
	{name: "tokens", eventName: "clawd_tokens", unit: "token", per: 1000, perText: "1000 tokens",
		value: func(h ledger.Hour) int64 { return h.InputTokens + h.OutputTokens }},
	{name: "requests", eventName: "clawd_requests", unit: "request", per: 1000, perText: "1000 requests",
		value: func(h ledger.Hour) int64 { return h.APIRequests }},
	// Storage is sent as MiB-hours (each hour's largest sample), priced
	// by the GiB-hour.
	{name: "storage", eventName: "clawd_storage_mib_hours", unit: "MiB-hour", per: 1024, perText: "GiB-hour",
		value: func(h ledger.Hour) int64 { return h.StorageMax >> 20 }},
}

func kindNamed(name string) (kind, bool) {
	for _, k := range kinds {
		if k.name == name {
			return k, true
		}
	}
	return kind{}, false
}

// Customer is a namespace's Stripe customer and subscription.
type Customer struct {
	Namespace     string `json:"namespace"`
	CustomerID    string `json:"customerId"`
	PaymentMethod string `json:"paymentMethod,omitempty"`
	Plan          string `json:"plan,omitempty"`
	// SubscriptionID and Items are empty when not subscribed.
	SubscriptionID string   `json:"subscriptionId,omitempty"`
	Items          []string `json:"items,omitempty"`
	PastDue        *PastDue `json:"pastDue,omitempty"`
	// PaymentEventAt is the creation time of the newest invoice event
	// applied: Stripe does not deliver events in order, an older one is
	// ignored.
	PaymentEventAt int64 `json:"paymentEventAt,omitempty"`
}

// PastDue is an unpaid invoice.
type PastDue struct {
	Since   time.Time `json:"since"`
	Invoice string    `json:"invoice"`
}

// InvalidError is the caller's mistake: nothing was sent to Stripe.
type InvalidError struct{ Err error }

func (e InvalidError) Error() string { return e.Err.Error() }
func (e InvalidError) Unwrap() error { return e.Err }

func invalid(format string, a ...any) error { return InvalidError{fmt.Errorf(format, a...)} }

// StripeError is Stripe refusing a request, with Stripe's own message.
type StripeError struct {
	Op  string
	Err error
}

func (e StripeError) Error() string { return fmt.Sprintf("%s: Stripe: %s", e.Op, stripeMessage(e.Err)) }
func (e StripeError) Unwrap() error { return e.Err }

// ErrNotConfigured is returned before `clawd billing configure`.
var ErrNotConfigured = errors.New("billing is not configured: run clawd billing configure --provider=stripe --api-key=… --webhook-secret=…")

func getJSON[T any](ctx context.Context, st Store, key string) (T, int64, error) {
	var v T
	data, rev, err := st.GetBilling(ctx, key)
	if err != nil {
		return v, 0, err
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, 0, fmt.Errorf("decoding billing record %s: %w", key, err)
	}
	return v, rev, nil
}

func putJSON(ctx context.Context, st Store, key string, v any, rev int64) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.PutBilling(ctx, key, data, rev, 0)
}

// update reads a record, applies fn and writes it back, retrying when
// another writer came first. A missing record starts from T's zero value.
func update[T any](ctx context.Context, st Store, key string, fn func(*T) error) (T, error) {
	for {
		v, rev, err := getJSON[T](ctx, st, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return v, err
		}
		if err := fn(&v); err != nil {
			return v, err
		}
		err = putJSON(ctx, st, key, v, rev)
		if errors.Is(err, store.ErrChanged) || (rev == 0 && errors.Is(err, store.ErrExists)) {
			continue
		}
		return v, err
	}
}
