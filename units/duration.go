package units

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	// Day is 24 hours; calendar days with DST shifts do not matter for
	// retention and idle timers.
	Day  = 24 * time.Hour
	week = 7 * Day
)

var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "μs": time.Microsecond,
	"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
	"d": Day, "w": week,
}

// One "<number><unit>" term; "ms" is listed before "m" and "s" because Go's
// regexp takes the first alternative that matches.
var durationTermRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h|d|w)`)

const durationWant = `want a non-negative Go duration with optional days and weeks, ` +
	`e.g. "90d", "2w", "1d12h", "1h30m", "5m", "0"`

// ParseDuration parses a Go duration ("1h30m") that may also use days
// ("90d") and weeks ("2w"), alone or combined ("1d12h").
//
// The standard library has no days; prometheus/common's parser has them but
// drops Go's fractions and units, so this small one covers both.
func ParseDuration(s string) (time.Duration, error) {
	fail := func(want string) (time.Duration, error) {
		return 0, &Error{What: "duration", Input: s, Want: want}
	}
	in := strings.TrimSpace(s)
	switch {
	case len(in) > maxInputLen:
		return fail("too long; " + durationWant)
	case strings.HasPrefix(in, "-"):
		return fail("must not be negative; " + durationWant)
	case in == "0":
		return 0, nil
	case in == "":
		return fail("empty; " + durationWant)
	}
	// Summed exactly, then truncated to nanoseconds like time.ParseDuration.
	total := new(big.Rat)
	for rest := in; rest != ""; {
		m := durationTermRE.FindStringSubmatch(rest)
		if m == nil {
			return fail(durationWant)
		}
		v, _ := new(big.Rat).SetString(m[1]) // the regexp admits only decimals
		total.Add(total, v.Mul(v, new(big.Rat).SetInt64(int64(durationUnits[m[2]]))))
		rest = rest[len(m[0]):]
	}
	ns := new(big.Int).Quo(total.Num(), total.Denom())
	if !ns.IsInt64() {
		return fail("too long a duration; the maximum is " + FormatDuration(math.MaxInt64))
	}
	return time.Duration(ns.Int64()), nil
}

// FormatDuration prints whole days as days ("90d") and anything else in Go's
// form without its trailing zero units ("36h", "1h30m", "0s").
func FormatDuration(d time.Duration) string {
	if d != 0 && d%Day == 0 {
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
