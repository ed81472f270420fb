package modelgw

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Usage is one call's counts.
type Usage struct {
	// ID is unique per call (128 random bits, hex); a ledger dedups on it.
	ID string
	// Time is when the call started (UTC).
	Time time.Time
	// Namespace is the tenant; Provider the first path segment; Model the
	// model the request named (empty for a model listing or a request
	// refused before its body was read).
	Namespace, Provider, Model string
	API                        API
	Stream                     bool
	// Status is the HTTP status returned to the client: the upstream's,
	// the gateway's own refusal, 502 when the provider could not be
	// reached, or 499 when the client left and the provider had not
	// answered within the linger.
	Status                    int
	InputTokens, OutputTokens int64
	// ToolCalls are the tool calls the model's reply asked the gateway to
	// run (OpenClaw runs a tool or skill for each): metered as skills
	// executed.
	ToolCalls int64
	// Estimated is true when the provider reported no usage (or not all
	// of it) and the counts were estimated from the text.
	Estimated bool
	// Duration runs from the call's start to the upstream's last byte,
	// which may be after the client left.
	Duration time.Duration
}

// Sink receives every call's usage. Record must not block for long: it
// runs on the call's goroutine after the reply is done.
type Sink interface {
	Record(Usage)
}

// newID returns 128 random bits in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}
