package audit

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Query selects records of one namespace: [Start, End) (zero: open), of
// Types (empty: all), at most Limit (0: no limit), oldest first or, with
// NewestFirst, newest first (Limit then keeps the newest).
type Query struct {
	Namespace   string
	Start       time.Time
	End         time.Time
	Types       []string
	Limit       int
	NewestFirst bool
}

// ParseQuery reads the CLI's and the API's query parameters: start and end
// are RFC 3339 times or YYYY-MM-DD days (an end day is included whole),
// types a comma-separated list of event types or "all".
func ParseQuery(ns, start, end, types string) (Query, error) {
	q := Query{Namespace: ns}
	var err error
	if start != "" {
		if q.Start, _, err = parseTime(start); err != nil {
			return Query{}, fmt.Errorf("--start: %w", err)
		}
	}
	if end != "" {
		t, day, err := parseTime(end)
		if err != nil {
			return Query{}, fmt.Errorf("--end: %w", err)
		}
		if day {
			t = t.AddDate(0, 0, 1)
		}
		q.End = t
	}
	if !q.Start.IsZero() && !q.End.IsZero() && !q.End.After(q.Start) {
		return Query{}, fmt.Errorf("--end %s is not after --start %s", end, start)
	}
	q.Types, err = ParseTypes(types)
	return q, err
}

// ParseTypes reads a comma-separated list of event types; "" and "all"
// select every type (nil).
func ParseTypes(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			continue
		case f == "all":
			return nil, nil
		case !slices.Contains(Types, f):
			return nil, fmt.Errorf("unknown event type %q: want all or some of %s", f, strings.Join(Types, ", "))
		case !slices.Contains(out, f):
			out = append(out, f)
		}
	}
	return out, nil
}

func parseTime(s string) (t time.Time, day bool, err error) {
	if len(s) == len(time.DateOnly) {
		t, err = time.Parse(time.DateOnly, s)
		if err == nil {
			return t, true, nil
		}
	}
	t, err = time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%q is neither YYYY-MM-DD nor an RFC 3339 time (2026-05-01T12:00:00Z)", s)
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, false, fmt.Errorf("%q is out of range", s)
	}
	return t.UTC(), false, nil
}
