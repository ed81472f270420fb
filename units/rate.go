package units

import (
	"strconv"
	"strings"
	"time"
)

// Rate is N events per period, as in an API key's "--rate-limit=1000/hour".
type Rate struct {
	N   int64
	Per time.Duration
}

// rateUnits are the period words accepted after the slash.
var rateUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": Day, "day": Day, "days": Day,
	"w": week, "week": week, "weeks": week,
}

// canonicalRateUnits name the periods String prints as a word.
var canonicalRateUnits = map[time.Duration]string{
	time.Second: "second", time.Minute: "minute", time.Hour: "hour", Day: "day", week: "week",
}

const rateWant = `want N/PERIOD with a whole N >= 1 and PERIOD one of ` +
	`second, minute, hour, day, week (or s, m, h, d, w) or a duration, ` +
	`e.g. "1000/hour", "10/s", "1000/1h", "500/90m"`

// ParseRate parses "N/period": "1000/hour", "10/s", "100000/day" or, with
// any positive duration as the period, "1000/1h" or "50/90m".
func ParseRate(s string) (Rate, error) {
	fail := func(want string) (Rate, error) {
		return Rate{}, &Error{What: "rate", Input: s, Want: want}
	}
	if len(s) > maxInputLen {
		return fail("too long; " + rateWant)
	}
	count, period, ok := strings.Cut(s, "/")
	if !ok {
		return fail(rateWant)
	}
	count, period = strings.TrimSpace(count), strings.TrimSpace(period)
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil || n < 1 || count[0] == '+' {
		return fail("the count must be a whole number >= 1; " + rateWant)
	}
	per, ok := rateUnits[strings.ToLower(period)]
	if !ok {
		if per, err = ParseDuration(period); err != nil || per <= 0 {
			return fail("the period must be a unit or a positive duration; " + rateWant)
		}
	}
	return Rate{N: n, Per: per}, nil
}

// String prints the canonical form: "1000/hour" for the named periods,
// "50/90m" (FormatDuration) for others. ParseRate reads it back.
func (r Rate) String() string {
	unit, ok := canonicalRateUnits[r.Per]
	if !ok {
		unit = FormatDuration(r.Per)
	}
	return strconv.FormatInt(r.N, 10) + "/" + unit
}

// PerSecond is the sustained rate in events per second, the unit of
// golang.org/x/time/rate.Limit; 0 for a zero period.
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 {
		return 0
	}
	return float64(r.N) / r.Per.Seconds()
}
