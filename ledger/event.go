package ledger

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is one usage record. ID makes a retry harmless: the ID is claimed in
// the same transaction as the row, and the roll-ups are only incremented for
// rows actually inserted, never before.
type Event struct {
	ID        string    // unique per event, e.g. a model call id, or node/ns/second/seq
	Time      time.Time // its UTC hour picks the roll-up, its UTC day the partition
	Namespace string
	Model     string // "provider/model" for model events, "" otherwise

	APIRequests, Calls, InputTokens, OutputTokens, SkillsExecuted int64

	CPUMicros        int64 // CPU time used, µs
	MemoryMiBSeconds int64 // memory held × time, MiB·s
	StorageBytes     int64 // a sample (gauge), 0 = none: the roll-up keeps the hour's max
}

// ErrInvalidEvent is wrapped by Write's error for an event that cannot be
// recorded (no id, no namespace, no time, a negative count).
var ErrInvalidEvent = errors.New("invalid usage event")

// Validate says why e cannot be recorded, or nil.
func (e Event) Validate() error {
	switch {
	case e.ID == "":
		return fmt.Errorf("%w: no id", ErrInvalidEvent)
	case e.Namespace == "":
		return fmt.Errorf("%w %s: no namespace", ErrInvalidEvent, e.ID)
	case !cleanText(e.ID) || !cleanText(e.Namespace) || !cleanText(e.Model):
		// PostgreSQL refuses such text: a batch holding it would fail for ever.
		return fmt.Errorf("%w %q: id, namespace and model must be UTF-8 without NUL", ErrInvalidEvent, e.ID)
	case e.Time.IsZero():
		return fmt.Errorf("%w %s: no time", ErrInvalidEvent, e.ID)
	case e.Time.UTC().Year() < 2000 || e.Time.UTC().Year() > 9999:
		// A clock this wrong would only make partitions no one reads.
		return fmt.Errorf("%w %s: time %s is not a plausible usage time", ErrInvalidEvent, e.ID, e.Time.UTC().Format(time.RFC3339))
	case e.APIRequests < 0 || e.Calls < 0 || e.InputTokens < 0 || e.OutputTokens < 0 ||
		e.SkillsExecuted < 0 || e.CPUMicros < 0 || e.MemoryMiBSeconds < 0 || e.StorageBytes < 0:
		return fmt.Errorf("%w %s: negative count", ErrInvalidEvent, e.ID)
	}
	return nil
}

func cleanText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

const (
	secondsPerHour = 3600
	secondsPerDay  = 86400
)

// dayOf is the UTC day number (days since 1970-01-01) of t.
func dayOf(t time.Time) int64 { return floorDiv(t.Unix(), secondsPerDay) }

// hourOf is the unix time of the start of t's UTC hour.
func hourOf(t time.Time) int64 { return floorDiv(t.Unix(), secondsPerHour) * secondsPerHour }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// dayString is day number d as 2006-01-02.
func dayString(d int64) string { return time.Unix(d*secondsPerDay, 0).UTC().Format(time.DateOnly) }
