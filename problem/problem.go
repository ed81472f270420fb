// Package problem writes RFC 9457 problem details, the one error shape of
// both the admin API and the router.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Problem is an RFC 9457 problem body. Extra members name what the client
// needs to act on (the namespace, the quota).
type Problem struct {
	Type      string `json:"type,omitempty"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// RequestID names the daemon's log line holding the cause that a 5xx
	// body leaves out.
	RequestID string `json:"requestId,omitempty"`
}

// Write sends p with its status code.
func Write(w http.ResponseWriter, p Problem) {
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if p.RequestID != "" {
		w.Header().Set("X-Request-Id", p.RequestID)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// Error sends a problem with just a status and a detail line.
func Error(w http.ResponseWriter, status int, detail string) {
	Write(w, Problem{Status: status, Detail: detail})
}

// RetryAfter sets Retry-After in whole seconds (at least 1).
func RetryAfter(w http.ResponseWriter, d time.Duration) {
	s := int(d.Round(time.Second) / time.Second)
	if s < 1 {
		s = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(s))
}
