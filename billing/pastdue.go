package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// Resume lifts billing's suspension of ns on the operator's word (an
// invoice settled outside Stripe, a goodwill extension). The customer is
// no longer past due, so the next pass does not suspend it again; Stripe's
// next failed payment starts a grace period afresh. A namespace that is
// neither suspended nor past due is refused, so a typo is not silent.
func (s *Service) Resume(ctx context.Context, ns string) (Customer, error) {
	if err := namespace.ValidateName(ns); err != nil {
		return Customer{}, InvalidError{err}
	}
	n, err := s.cfg.Store.GetNamespace(ctx, ns)
	if err != nil {
		return Customer{}, err
	}
	suspended := n.Spec.Suspended != nil && strings.HasPrefix(n.Spec.Suspended.Reason, suspendedPrefix)
	c, _, err := getJSON[Customer](ctx, s.cfg.Store, prefixCust+ns)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Customer{}, err
	}
	if !suspended && c.PastDue == nil {
		return Customer{}, InvalidError{fmt.Errorf("namespace %s is neither suspended by billing nor past due: nothing to resume", ns)}
	}
	if c.PastDue != nil {
		if c, err = update(ctx, s.cfg.Store, prefixCust+ns, func(rec *Customer) error {
			rec.PastDue = nil
			return nil
		}); err != nil {
			return c, err
		}
	}
	return c, s.lift(ctx, ns, "resumed by an operator")
}

// resume lifts billing's suspension of ns; the next request wakes it.
func (s *Service) resume(ctx context.Context, ns string) error {
	return s.lift(ctx, ns, "invoice paid")
}

func (s *Service) lift(ctx context.Context, ns, why string) error {
	changed := false
	_, err := s.cfg.Store.UpdateSpec(ctx, ns, func(sp *namespace.Spec) error {
		if sp.Suspended != nil && strings.HasPrefix(sp.Suspended.Reason, suspendedPrefix) {
			sp.Suspended = nil
			changed = true
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if changed {
		s.log.Info("namespace resumed", "namespace", ns, "why", why)
		s.record(ns, "unsuspended", "", why)
	}
	return err
}
