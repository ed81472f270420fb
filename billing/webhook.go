package billing

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/store"
)

// Tolerance is how old a webhook's signed timestamp may be (Stripe's
// libraries use 5 minutes); older ones, and ones from the future by as
// much, are refused, so a captured request cannot be replayed later.
const Tolerance = 5 * time.Minute

// eventIDTTL is how long a handled event id is remembered: Stripe retries
// an undelivered event for up to three days.
const eventIDTTL = 4 * 24 * time.Hour

// ErrSignature is a webhook whose signature does not verify.
var ErrSignature = errors.New("invalid Stripe signature")

// VerifySignature checks a Stripe-Signature header ("t=…,v1=…[,v1=…]"):
// HMAC-SHA256 with the secret over "t.payload", compared in constant time,
// the timestamp within Tolerance of now.
func VerifySignature(payload []byte, header, secret string, now time.Time) error {
	var ts int64 = -1
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%w: bad timestamp", ErrSignature)
			}
			ts = t
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if ts < 0 || len(sigs) == 0 {
		return fmt.Errorf("%w: no t= timestamp or v1= signature", ErrSignature)
	}
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.", ts)
	m.Write(payload)
	want := m.Sum(nil)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: no v1 signature matches", ErrSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("%w: timestamp %s is outside the %s tolerance", ErrSignature, time.Unix(ts, 0).UTC().Format(time.RFC3339), Tolerance)
	}
	return nil
}

// Sign returns a Stripe-Signature header for payload at t (tests, and
// operators checking their endpoint by hand).
func Sign(payload []byte, secret string, t time.Time) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.", t.Unix())
	m.Write(payload)
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(m.Sum(nil)))
}

// event is the part of a Stripe event billing reads.
type event struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object struct {
			ID       string `json:"id"`
			Customer string `json:"customer"`
		} `json:"object"`
	} `json:"data"`
}

// WebhookResult says what a webhook did.
type WebhookResult struct {
	Event     string `json:"event"`
	Type      string `json:"type"`
	Namespace string `json:"namespace,omitempty"`
	// Duplicate: the event id was handled before; nothing was done again.
	Duplicate bool   `json:"duplicate,omitempty"`
	Action    string `json:"action"`
}

// HandleWebhook verifies and applies one Stripe event. Its effects are
// idempotent and the event id is remembered after they are written, so a
// replay within the tolerance does nothing and a failure half-way is
// retried by Stripe whole.
func (s *Service) HandleWebhook(ctx context.Context, payload []byte, sigHeader string) (WebhookResult, error) {
	set, _, err := getJSON[Settings](ctx, s.cfg.Store, keySettings)
	if errors.Is(err, store.ErrNotFound) {
		return WebhookResult{}, ErrNotConfigured
	}
	if err != nil {
		return WebhookResult{}, err
	}
	secret, err := s.cfg.Secrets.Open(set.SealedWebhookSecret, ctxWebhookSecret)
	if err != nil {
		return WebhookResult{}, fmt.Errorf("opening the webhook secret: %w", err)
	}
	if err := VerifySignature(payload, sigHeader, string(secret), s.now()); err != nil {
		return WebhookResult{}, err
	}
	var ev event
	if err := json.Unmarshal(payload, &ev); err != nil || ev.ID == "" || ev.Type == "" {
		return WebhookResult{}, invalid("the webhook body is not a Stripe event")
	}
	if strings.ContainsAny(ev.ID, "/\x00") {
		return WebhookResult{}, invalid("invalid event id %q", ev.ID)
	}
	res := WebhookResult{Event: ev.ID, Type: ev.Type}
	if _, _, err := s.cfg.Store.GetBilling(ctx, prefixEvent+ev.ID); err == nil {
		res.Duplicate, res.Action = true, "none: already handled"
		s.log.Warn("webhook event replayed; ignored", "event", ev.ID, "type", ev.Type)
		return res, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return res, err
	}
	res.Action, res.Namespace, err = s.apply(ctx, ev)
	if err != nil {
		return res, err
	}
	if err := s.cfg.Store.PutBilling(ctx, prefixEvent+ev.ID, []byte(strconv.Quote(ev.Type)), 0, eventIDTTL); err != nil && !errors.Is(err, store.ErrExists) {
		return res, err
	}
	s.log.Info("webhook handled", "event", ev.ID, "type", ev.Type, "namespace", res.Namespace, "action", res.Action)
	if res.Namespace != "" && !strings.HasPrefix(res.Action, "none") {
		s.record(res.Namespace, "stripe:"+ev.Type, ev.ID, res.Action)
	}
	if ev.Type == "invoice.payment_failed" {
		// A grace period of 0 suspends at once, not at the next pass.
		if err := s.EnforcePastDue(ctx); err != nil {
			s.log.Warn("enforcing the billing grace period failed; will retry", "error", err)
		}
	}
	return res, nil
}

// apply does what an event means; it returns what it did and to whom.
func (s *Service) apply(ctx context.Context, ev event) (string, string, error) {
	obj := ev.Data.Object
	switch ev.Type {
	case "invoice.payment_failed", "invoice.paid", "customer.subscription.deleted":
	default:
		return "none: not an event clawd acts on", "", nil
	}
	ns, err := s.namespaceOf(ctx, obj.Customer)
	if err != nil || ns == "" {
		return "none: the customer is no namespace's", "", err
	}
	switch ev.Type {
	case "customer.subscription.deleted":
		if _, err := s.endSubscription(ctx, ns, obj.ID); err != nil {
			return "", ns, err
		}
		return "subscription ended, plan quotas removed", ns, nil
	case "invoice.payment_failed":
		action := "marked past due"
		_, err := update(ctx, s.cfg.Store, prefixCust+ns, func(c *Customer) error {
			if ev.Created < c.PaymentEventAt {
				action = "none: a newer invoice event was applied"
				return nil
			}
			c.PaymentEventAt = ev.Created
			if c.PastDue == nil {
				c.PastDue = &PastDue{Since: time.Unix(ev.Created, 0).UTC(), Invoice: obj.ID}
			} else {
				action = "already past due"
			}
			return nil
		})
		return action, ns, err
	default: // invoice.paid
		action := "past due cleared"
		_, err := update(ctx, s.cfg.Store, prefixCust+ns, func(c *Customer) error {
			if ev.Created < c.PaymentEventAt {
				action = "none: a newer invoice event was applied"
				return nil
			}
			c.PaymentEventAt = ev.Created
			c.PastDue = nil
			return nil
		})
		if err != nil || strings.HasPrefix(action, "none") {
			return action, ns, err
		}
		if err := s.resume(ctx, ns); err != nil {
			return "", ns, err
		}
		return action, ns, nil
	}
}

// namespaceOf finds the namespace whose customer is id.
func (s *Service) namespaceOf(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	recs, err := s.cfg.Store.ListBilling(ctx, prefixCust)
	if err != nil {
		return "", err
	}
	for ns, data := range recs {
		var c Customer
		if json.Unmarshal(data, &c) == nil && c.CustomerID == id {
			return ns, nil
		}
	}
	return "", nil
}
