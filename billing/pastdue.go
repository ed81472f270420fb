package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/units"
)

// suspendedPrefix starts the reason billing writes, so only billing's
// suspension is lifted by billing.
const suspendedPrefix = "payment overdue: "

// gracePeriod is billing.gracePeriod (dynamic config) or its default.
func (s *Service) gracePeriod(ctx context.Context) time.Duration {
	v, err := s.cfg.Store.GetConfig(ctx, "billing.gracePeriod")
	if err != nil {
		k, _, _ := config.Lookup("billing.gracePeriod")
		v = k.Default
	}
	d, err := units.ParseDuration(v)
	if err != nil {
		return 72 * time.Hour
	}
	return d
}

// EnforcePastDue puts to sleep every namespace past due for longer than
// the grace period, with a reason its tenant's requests see (402). It is
// level-triggered: each pass reads every customer.
func (s *Service) EnforcePastDue(ctx context.Context) error {
	recs, err := s.cfg.Store.ListBilling(ctx, prefixCust)
	if err != nil {
		return err
	}
	grace := s.gracePeriod(ctx)
	now := s.now()
	var errs []error
	for ns, data := range recs {
		var c Customer
		if json.Unmarshal(data, &c) != nil || c.PastDue == nil || (grace > 0 && now.Sub(c.PastDue.Since) < grace) {
			continue
		}
		reason := fmt.Sprintf("%sinvoice %s unpaid since %s; pay it to resume this namespace", suspendedPrefix, c.PastDue.Invoice, c.PastDue.Since.Format(time.DateOnly))
		changed := false
		_, err := s.cfg.Store.UpdateSpec(ctx, ns, func(sp *namespace.Spec) error {
			if sp.Deleting || sp.Suspended != nil {
				return nil
			}
			sp.Suspended = &namespace.Suspension{Reason: reason, Since: now}
			sp.Target = namespace.PhaseStopped
			changed = true
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("suspending %s: %w", ns, err))
			continue
		}
		if changed {
			s.log.Warn("namespace suspended for an unpaid invoice", "namespace", ns, "invoice", c.PastDue.Invoice, "past_due_since", c.PastDue.Since, "grace", grace)
			s.record(ns, "suspended", c.PastDue.Invoice, reason)
		}
	}
	return errors.Join(errs...)
}

// resume lifts billing's suspension of ns; the next request wakes it.
func (s *Service) resume(ctx context.Context, ns string) error {
	changed := false
	_, err := s.cfg.Store.UpdateSpec(ctx, ns, func(sp *namespace.Spec) error {
		if sp.Suspended != nil && len(sp.Suspended.Reason) >= len(suspendedPrefix) && sp.Suspended.Reason[:len(suspendedPrefix)] == suspendedPrefix {
			sp.Suspended = nil
			changed = true
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if changed {
		s.log.Info("namespace resumed: invoice paid", "namespace", ns)
		s.record(ns, "unsuspended", "", "invoice paid")
	}
	return err
}
