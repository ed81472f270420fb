package billing

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"
)

// newStripe returns a client for key against apiBase (Stripe's API, or
// stripe-mock in tests). Network errors and 429/5xx answers are retried by
// stripe-go with the same Idempotency-Key, so a retry never creates twice.
func newStripe(key, apiBase string, hc *http.Client) *stripe.Client {
	retries := int64(2)
	telemetry := false
	base := strings.TrimRight(apiBase, "/")
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	cfg := &stripe.BackendConfig{
		URL:               &base,
		HTTPClient:        hc,
		MaxNetworkRetries: &retries,
		EnableTelemetry:   &telemetry,
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	return stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(cfg)))
}

// stripeMessage is Stripe's own message for a refusal, else the error.
func stripeMessage(err error) string {
	var se *stripe.Error
	if errors.As(err, &se) && se.Msg != "" {
		return se.Msg
	}
	return err.Error()
}

// refused reports whether Stripe answered with a 4xx (not worth retrying
// as is), as opposed to a network error or 5xx.
func refused(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.HTTPStatusCode != http.StatusTooManyRequests
}
