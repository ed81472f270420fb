// Package units parses and formats the quantities users type on the CLI, in
// API requests and in quota files: sizes ("8Gi"), CPU ("0.5", "500m"),
// durations ("90d", "1h") and rates ("1000/hour").
//
// Every Format function produces text its Parse function reads back to the
// same value, so stored and displayed values can always be re-read.
package units

import "fmt"

// maxInputLen bounds what the parsers look at, so a hostile API request
// cannot make them do big-number work on megabytes of digits.
const maxInputLen = 100

// Error reports input a parser refused. The API maps it to HTTP 400;
// its message names the input and what is accepted.
type Error struct {
	What  string // "size", "CPU quantity", "duration" or "rate"
	Input string
	Want  string // why it was refused and what is accepted
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.What, e.Input, e.Want)
}
