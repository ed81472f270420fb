package billing

import "github.com/clawd-dev/clawd/audit"

// record adds a billing change to the audit log (Config.Audit), if any:
// Stripe's events as clawd applied them, and the suspensions and resumes
// they cause. Changes made through the admin API are audited there.
func (s *Service) record(ns, action, target, detail string) {
	if s.cfg.Audit == nil {
		return
	}
	s.cfg.Audit.Record(audit.Record{Namespace: ns, Type: audit.TypeBilling, Actor: "system", Action: action,
		Target: target, Outcome: audit.OutcomeSuccess, Detail: detail})
}
