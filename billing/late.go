package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/clawd-dev/clawd/ledger"
)

// Usage can reach the ledger after its hour was sent: the ledger was
// unreachable for a while and the writers caught up, or a node restarted
// with events queued. So every hour sent is recorded with what was sent
// for it, and later passes compare the ledger's roll-ups of the last
// lateWindow with those records and send the difference as one more
// meter event. Its identifier names the new total, so a resend of the
// same correction is dropped by Stripe like any other, and a second
// correction of the same hour gets an identifier of its own. A roll-up
// that shrank (it cannot, short of retention deleting rows) is left as
// sent: a meter event cannot be taken back.
const (
	lateWindow = 48 * time.Hour
	// lateEvery is how often the late pass reads the window again.
	lateEvery = settle
)

// prefixSent keys the record of one node's one hour: usage-sent/<node>/<unix>.
const prefixSent = "usage-sent/"

// sentHour is what was sent for one hour: namespace → kind → value.
type sentHour map[string]map[string]int64

func (h sentHour) add(ns, kind string, v int64) {
	if h[ns] == nil {
		h[ns] = map[string]int64{}
	}
	h[ns][kind] += v
}

func (s *Service) sentKey(hour time.Time) string {
	return prefixSent + s.cfg.Node + "/" + strconv.FormatInt(hour.Unix(), 10)
}

// recordSent stores what an hour's pass sent, with every namespace this
// node billed the hour for (zero where nothing was sent): late usage is
// corrected only by the node that billed the hour.
func (s *Service) recordSent(ctx context.Context, hour time.Time, sent sentHour) error {
	if len(sent) == 0 {
		return nil
	}
	if _, err := update(ctx, s.cfg.Store, s.sentKey(hour), func(h *sentHour) error {
		*h = sent
		return nil
	}); err != nil {
		return fmt.Errorf("recording the usage sent for %s: %w", hour.Format("2006-01-02T15Z"), err)
	}
	return nil
}

// sendLate bills what reached the ledger for the hours in [from, to)
// after they were sent, and forgets the records older than the window.
// subs are every subscriber, wherever it runs now: the records say which
// this node billed.
func (s *Service) sendLate(ctx context.Context, sc *stripe.Client, hours Hours, subs map[string]subscriber, from, to time.Time) error {
	now := s.now()
	if s.lateAt.Load() != nil && now.Sub(*s.lateAt.Load()) < lateEvery {
		return nil
	}
	recs, err := s.cfg.Store.ListBilling(ctx, prefixSent+s.cfg.Node+"/")
	if err != nil {
		return err
	}
	sent := map[int64]sentHour{}
	for k, data := range recs {
		unix, err := strconv.ParseInt(k, 10, 64)
		if err != nil || strings.Contains(k, "/") {
			continue
		}
		if time.Unix(unix, 0).Before(from) {
			if err := s.cfg.Store.DeleteBilling(ctx, prefixSent+s.cfg.Node+"/"+k); err != nil {
				return err
			}
			continue
		}
		var h sentHour
		if json.Unmarshal(data, &h) == nil {
			sent[unix] = h
		}
	}
	if from.Before(to) {
		rows, err := hours.Hours(ctx, from, to)
		if err != nil {
			return fmt.Errorf("reading usage: %w", err)
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].Hour.Before(rows[j].Hour) })
		for _, r := range rows {
			sub, ok := subs[r.Namespace]
			if !ok {
				continue
			}
			// Only what this node billed the hour for is its to correct:
			// a namespace another node ran then is that node's.
			h := sent[r.Hour.Unix()]
			if h[r.Namespace] == nil {
				continue
			}
			if err := s.sendDifference(ctx, sc, r, sub, h); err != nil {
				return err
			}
		}
	}
	s.lateAt.Store(&now)
	return nil
}

// sendDifference sends, per metered kind, what the roll-up r holds beyond
// what h says was sent, and records it.
func (s *Service) sendDifference(ctx context.Context, sc *stripe.Client, r ledger.Hour, sub subscriber, h sentHour) error {
	for _, k := range sub.metered {
		total, was := k.value(r), h[r.Namespace][k.name]
		if total <= was {
			continue
		}
		id := Identifier(r.Namespace, r.Hour, k.name) + "-to-" + strconv.FormatInt(total, 10)
		if err := s.sendEvent(ctx, sc, r, k, sub.customer, total-was, id); err != nil {
			return err
		}
		h.add(r.Namespace, k.name, total-was)
		if err := s.recordSent(ctx, r.Hour, h); err != nil {
			return err
		}
		s.log.Info("usage that reached the ledger after its hour was sent is billed now", "namespace", r.Namespace, "hour", r.Hour.Format("2006-01-02T15Z"), "kind", k.name, "value", total-was)
		s.usage.set(func(u *UsageStatus) { u.Late++ })
	}
	return nil
}
