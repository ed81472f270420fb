package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/store"
)

// Hours reads the ledger's hourly roll-ups (ledger.Ledger).
type Hours interface {
	Hours(ctx context.Context, from, to time.Time) ([]ledger.Hour, error)
}

var _ Hours = (*ledger.Ledger)(nil)

const (
	// MeterWindow is how far back Stripe takes a meter event's timestamp.
	MeterWindow = 35 * 24 * time.Hour
	// settle is how long after an hour ends its roll-up is taken as
	// final: the ledger's writers flush within seconds, the model
	// gateway's linger within a minute.
	settle = 10 * time.Minute
	// batchHours is how many hours one ledger read covers.
	batchHours = 24
)

// UsageStatus is the usage sender as `clawd status` shows it.
type UsageStatus struct {
	// Ledger is false when this node has no usage ledger to read.
	Ledger bool `json:"ledger"`
	// Next is the first hour not sent yet (the persisted cursor).
	Next *time.Time `json:"next,omitempty"`
	// Behind is how many whole hours are due but not sent.
	Behind int `json:"behind"`
	// Sent counts meter events accepted by Stripe since this node started.
	Sent       int64      `json:"sent"`
	LastSentAt *time.Time `json:"lastSentAt,omitempty"`
	// Failures counts passes in a row that failed; LastError is the latest.
	Failures    int        `json:"failures"`
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
	// Skipped counts hours passed over for being older than Stripe's
	// 35-day window (the cursor was that far behind).
	Skipped int64 `json:"skipped"`
	// Late counts meter events sent for usage that reached the ledger
	// after its hour had been sent, since this node started.
	Late int64 `json:"late"`
}

type usageState struct {
	mu sync.Mutex
	st UsageStatus
}

func (u *usageState) set(fn func(*UsageStatus)) {
	u.mu.Lock()
	fn(&u.st)
	u.mu.Unlock()
}

type cursor struct {
	Next int64 `json:"next"` // unix time of the first hour not sent
	// RecordedFrom is the first hour whose sent values are recorded
	// (usage-sent/): late usage is billed from there on.
	RecordedFrom int64 `json:"recordedFrom,omitempty"`
}

// subscriber is what the sender needs of a subscribed namespace.
type subscriber struct {
	customer string
	metered  []kind
	mine     bool // this node runs the namespace
}

// Identifier is a roll-up's meter event identifier: Stripe drops a second
// event with the same one, so a resent hour is never billed twice.
func Identifier(ns string, hour time.Time, kind string) string {
	return "clawd-" + ns + "-" + strconv.FormatInt(hour.Unix(), 10) + "-" + kind
}

// SendUsage sends every complete hour from the cursor on as meter events
// for the subscribed namespaces this node runs, and moves the cursor past
// each hour once all its events were accepted. A failure stops the pass:
// the hour is sent again next time, its events' identifiers keep Stripe
// from counting them twice.
func (s *Service) SendUsage(ctx context.Context, hours Hours) error {
	err := s.sendUsage(ctx, hours)
	now := s.now()
	s.usage.set(func(u *UsageStatus) {
		u.Ledger = hours != nil
		if err != nil && !errors.Is(err, ErrNotConfigured) {
			u.Failures++
			u.LastError, u.LastErrorAt = err.Error(), &now
		} else if err == nil {
			u.Failures = 0
		}
	})
	if err != nil && !errors.Is(err, ErrNotConfigured) {
		s.log.Warn("sending usage to Stripe failed; will retry", "error", err)
	}
	return err
}

func (s *Service) sendUsage(ctx context.Context, hours Hours) error {
	if hours == nil {
		return nil
	}
	set, sc, err := s.settings(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	end := now.Add(-settle).Truncate(time.Hour) // hours starting before end are complete
	oldest := now.Add(-MeterWindow).Truncate(time.Hour).Add(time.Hour)
	key := prefixCursor + s.cfg.Node
	cur, rev, err := getJSON[cursor](ctx, s.cfg.Store, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Usage before billing was configured is not billed.
		cur.Next = set.ConfiguredAt.Truncate(time.Hour).Unix()
	case err != nil:
		return err
	}
	if cur.RecordedFrom == 0 {
		// Hours sent by a clawd that kept no record of what it sent
		// are never corrected: a correction would bill them again.
		cur.RecordedFrom = cur.Next
	}
	next := time.Unix(cur.Next, 0).UTC()
	if next.Before(oldest) {
		skipped := int64(oldest.Sub(next) / time.Hour)
		s.log.Warn("usage older than Stripe's 35-day window is not sent", "from", next, "to", oldest, "hours", skipped)
		s.usage.set(func(u *UsageStatus) { u.Skipped += skipped })
		next = oldest
	}
	defer func() {
		n := next
		behind := 0
		if end.After(n) {
			behind = int(end.Sub(n) / time.Hour)
		}
		s.usage.set(func(u *UsageStatus) { u.Next, u.Behind = &n, behind })
	}()
	all, err := s.subscribers(ctx)
	if err != nil {
		return err
	}
	subs := map[string]subscriber{} // those this node runs
	for ns, sub := range all {
		if sub.mine {
			subs[ns] = sub
		}
	}
	for next.Before(end) {
		to := next.Add(batchHours * time.Hour)
		if to.After(end) {
			to = end
		}
		rows, err := hours.Hours(ctx, next, to)
		if err != nil {
			return fmt.Errorf("reading usage: %w", err)
		}
		byHour := map[int64][]ledger.Hour{}
		for _, r := range rows {
			byHour[r.Hour.Unix()] = append(byHour[r.Hour.Unix()], r)
		}
		for ; next.Before(to); next = next.Add(time.Hour) {
			sent := sentHour{}
			for ns := range subs {
				sent[ns] = map[string]int64{} // this node's to bill, even if late
			}
			for _, r := range byHour[next.Unix()] {
				sub, ok := subs[r.Namespace]
				if !ok {
					continue
				}
				if err := s.sendHour(ctx, sc, r, sub, sent); err != nil {
					return err
				}
			}
			// What was sent is recorded before the cursor moves past it:
			// usage arriving later is billed as the difference (for hours
			// still inside the window the late pass reads).
			if !next.Before(end.Add(-lateWindow)) {
				if err := s.recordSent(ctx, next, sent); err != nil {
					return err
				}
			}
			cur.Next = next.Add(time.Hour).Unix()
			data, _ := json.Marshal(cur)
			if err := s.cfg.Store.PutBilling(ctx, key, data, rev, 0); err != nil {
				return fmt.Errorf("saving the usage cursor: %w", err)
			}
			_, rev, err = s.cfg.Store.GetBilling(ctx, key)
			if err != nil {
				return fmt.Errorf("saving the usage cursor: %w", err)
			}
		}
	}
	lateFrom := time.Unix(max(cur.RecordedFrom, end.Add(-lateWindow).Unix(), oldest.Unix()), 0).UTC()
	return s.sendLate(ctx, sc, hours, all, lateFrom, next)
}

// sendHour sends one namespace's roll-up of one hour, an event per
// metered kind, and adds what it sent to sent.
func (s *Service) sendHour(ctx context.Context, sc *stripe.Client, r ledger.Hour, sub subscriber, sent sentHour) error {
	for _, k := range sub.metered {
		v := k.value(r)
		if v <= 0 {
			continue
		}
		if err := s.sendEvent(ctx, sc, r, k, sub.customer, v, Identifier(r.Namespace, r.Hour, k.name)); err != nil {
			return err
		}
		sent.add(r.Namespace, k.name, v)
	}
	return nil
}

func (s *Service) sendEvent(ctx context.Context, sc *stripe.Client, r ledger.Hour, k kind, customer string, v int64, id string) error {
	params := &stripe.BillingMeterEventCreateParams{
		EventName:  stripe.String(k.eventName),
		Identifier: stripe.String(id),
		Timestamp:  stripe.Int64(r.Hour.Unix()),
		Payload:    map[string]string{"stripe_customer_id": customer, "value": strconv.FormatInt(v, 10)},
	}
	if _, err := sc.V1BillingMeterEvents.Create(ctx, params); err != nil {
		return StripeError{Op: fmt.Sprintf("sending %s's %s of %s", r.Namespace, k.name, r.Hour.Format("2006-01-02T15Z")), Err: err}
	}
	now := s.now()
	s.usage.set(func(u *UsageStatus) { u.Sent++; u.LastSentAt = &now })
	return nil
}

// subscribers are the namespaces whose plan has metered prices, marked
// mine when this node runs them.
func (s *Service) subscribers(ctx context.Context) (map[string]subscriber, error) {
	recs, err := s.cfg.Store.ListBilling(ctx, prefixCust)
	if err != nil {
		return nil, err
	}
	nss, err := s.cfg.Store.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	mine := map[string]bool{}
	for _, ns := range nss {
		node := ns.Status.Node
		if node == "" {
			node = ns.Spec.Node
		}
		mine[ns.Spec.Name] = node == "" || node == s.cfg.Node
	}
	plans := map[string]Plan{}
	out := map[string]subscriber{}
	for ns, data := range recs {
		var c Customer
		if json.Unmarshal(data, &c) != nil || c.SubscriptionID == "" {
			continue
		}
		p, ok := plans[c.Plan]
		if !ok {
			if p, err = s.plan(ctx, c.Plan); err != nil {
				continue
			}
			plans[c.Plan] = p
		}
		sub := subscriber{customer: c.CustomerID, mine: mine[ns]}
		for _, m := range p.Metered {
			if k, ok := kindNamed(m.Kind); ok {
				sub.metered = append(sub.metered, k)
			}
		}
		if len(sub.metered) > 0 {
			out[ns] = sub
		}
	}
	return out, nil
}

// Status is billing as `clawd status` shows it.
type Status struct {
	Configured bool        `json:"configured"`
	Provider   string      `json:"provider,omitempty"`
	Plans      int         `json:"plans"`
	Subscribed int         `json:"subscribed"`
	PastDue    []string    `json:"pastDue"`
	Suspended  []string    `json:"suspended"`
	Usage      UsageStatus `json:"usage"`
}

// Status reports billing's state.
func (s *Service) Status(ctx context.Context) (Status, error) {
	st := Status{PastDue: []string{}, Suspended: []string{}}
	set, _, err := getJSON[Settings](ctx, s.cfg.Store, keySettings)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return st, err
	}
	st.Configured, st.Provider = err == nil, set.Provider
	plans, err := s.cfg.Store.ListBilling(ctx, prefixPlan)
	if err != nil {
		return st, err
	}
	st.Plans = len(plans)
	recs, err := s.cfg.Store.ListBilling(ctx, prefixCust)
	if err != nil {
		return st, err
	}
	for ns, data := range recs {
		var c Customer
		if json.Unmarshal(data, &c) != nil {
			continue
		}
		if c.SubscriptionID != "" {
			st.Subscribed++
		}
		if c.PastDue != nil {
			st.PastDue = append(st.PastDue, ns)
		}
	}
	nss, err := s.cfg.Store.ListNamespaces(ctx)
	if err != nil {
		return st, err
	}
	for _, ns := range nss {
		if ns.Spec.Suspended != nil {
			st.Suspended = append(st.Suspended, ns.Spec.Name)
		}
	}
	s.usage.mu.Lock()
	st.Usage = s.usage.st
	s.usage.mu.Unlock()
	return st, nil
}

// Run sends usage and enforces the grace period every interval until ctx
// ends. hours may be nil (no ledger on this node: nothing is sent).
func (s *Service) Run(ctx context.Context, hours Hours, interval time.Duration) {
	s.usage.set(func(u *UsageStatus) { u.Ledger = hours != nil })
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.EnforcePastDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("enforcing the billing grace period failed; will retry", "error", err)
		}
		_ = s.SendUsage(ctx, hours)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
