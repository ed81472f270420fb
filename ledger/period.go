package ledger

import (
	"fmt"
	"strings"
	"time"
)

// periodForms names what ParsePeriod accepts, for its error.
const periodForms = `want 2026 (a year), 2026-05 (a month), 2026-Q2 (a quarter), 2026-05-01 (a day) or 2026-05-01..2026-05-31 (days, both included)`

// ParsePeriod reads a billing period as [start, end) in UTC: "2026" (a
// year), "2026-05" (a month), "2026-Q2" (a quarter), "2026-05-01" (a day)
// or "2026-05-01..2026-05-31" (days, both ends included).
func ParsePeriod(s string) (start, end time.Time, err error) {
	bad := func(why string) (time.Time, time.Time, error) {
		if why != "" {
			why = ": " + why
		}
		return time.Time{}, time.Time{}, fmt.Errorf("period %q%s; %s", s, why, periodForms)
	}
	if a, b, ok := strings.Cut(s, ".."); ok {
		from, err1 := parseDay(a)
		to, err2 := parseDay(b)
		if err1 != nil || err2 != nil {
			return bad("")
		}
		if to.Before(from) {
			return bad("it ends before it starts")
		}
		return from, to.AddDate(0, 0, 1), nil
	}
	switch {
	case len(s) == 4 && digits(s):
		y, _ := time.Parse("2006", s)
		return y, y.AddDate(1, 0, 0), nil
	case len(s) == 7 && (s[5] == 'Q' || s[5] == 'q') && s[4] == '-' && digits(s[:4]) && s[6] >= '1' && s[6] <= '4':
		y, _ := time.Parse("2006", s[:4])
		start := y.AddDate(0, 3*int(s[6]-'1'), 0)
		return start, start.AddDate(0, 3, 0), nil
	case len(s) == 7:
		m, err := time.Parse("2006-01", s)
		if err != nil || !digits(s[:4]) || !digits(s[5:]) {
			return bad("")
		}
		return m, m.AddDate(0, 1, 0), nil
	case len(s) == 10:
		d, err := parseDay(s)
		if err != nil {
			return bad("")
		}
		return d, d.AddDate(0, 0, 1), nil
	}
	return bad("")
}

// parseDay reads exactly YYYY-MM-DD (time.Parse alone also takes a one-digit
// day or month in some layouts and signs in none; the length pins it).
func parseDay(s string) (time.Time, error) {
	if len(s) != 10 || !digits(s[:4]) || !digits(s[5:7]) || !digits(s[8:]) {
		return time.Time{}, fmt.Errorf("not YYYY-MM-DD")
	}
	return time.Parse(time.DateOnly, s)
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
