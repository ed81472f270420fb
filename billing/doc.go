// Package billing turns clawd's plans, tenants and usage into Stripe
// products, customers, subscriptions and meter events, and reacts to
// Stripe's webhooks (a failed payment puts a namespace past due, then to
// sleep after the grace period; a paid invoice clears it).
//
// Its records (settings with the sealed Stripe keys, plans, customers, the
// usage cursor, webhook event ids) live in the state store as JSON; the
// plan's quotas are applied through the same code path as
// `clawd namespace apply-quota`. Money is integer minor units throughout
// (per-unit prices of metered usage are Stripe's decimal strings of minor
// units), never floats.
package billing
