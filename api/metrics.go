package api

import (
	"net/http"

	"github.com/clawd-dev/clawd/problem"
)

// metrics guards the Prometheus endpoint with the admin token unless
// MetricsPublic is set: its series name every namespace, which is more than
// anyone without the token should learn. Scrapers send the token with
// Prometheus' `authorization` (credentials_file: admin.token).
func (s *Server) metrics(h http.Handler) http.Handler {
	if s.cfg.MetricsPublic {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="clawd"`)
			problem.Error(w, http.StatusUnauthorized, "missing or wrong admin token: send 'Authorization: Bearer <token from admin.token>', or start clawd with --api.metricsPublic")
			return
		}
		h.ServeHTTP(w, r)
	})
}
