package billing

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// zeroDecimal are the currencies Stripe counts in whole units (no cents);
// from Stripe's "zero-decimal currencies" list.
var zeroDecimal = map[string]bool{
	"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true, "krw": true, "mga": true,
	"pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true, "xof": true, "xpf": true,
}

var currencyRE = regexp.MustCompile(`^[a-z]{3}$`)

// ParseCurrency checks a three-letter ISO 4217 code and returns it in the
// lowercase Stripe uses.
func ParseCurrency(s string) (string, error) {
	c := strings.ToLower(strings.TrimSpace(s))
	if !currencyRE.MatchString(c) {
		return "", fmt.Errorf("invalid --currency %q: use a three-letter ISO 4217 code such as USD or EUR", s)
	}
	return c, nil
}

// decimals is how many digits after the point a currency's amounts have.
func decimals(currency string) int {
	if zeroDecimal[currency] {
		return 0
	}
	return 2
}

var amountRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// ParseAmount turns a price such as "99.00" into minor units (9900 cents),
// refusing negative amounts and more decimals than the currency has.
func ParseAmount(s, currency string) (int64, error) {
	s = strings.TrimSpace(s)
	if !amountRE.MatchString(s) {
		return 0, fmt.Errorf("invalid --price %q: use a non-negative amount such as 99.00", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	d := decimals(currency)
	if len(strings.TrimRight(frac, "0")) > d {
		return 0, fmt.Errorf("invalid --price %q: %s amounts have at most %d decimals", s, strings.ToUpper(currency), d)
	}
	frac = (frac + strings.Repeat("0", d))[:d]
	v, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok || !v.IsInt64() || v.Int64() > 99999999 {
		return 0, fmt.Errorf("invalid --price %q: too large (Stripe takes at most 99999999 minor units)", s)
	}
	return v.Int64(), nil
}

// ParseUnitPrice turns a per-quantity price such as "0.50" (per `per`
// units, e.g. per 1000 tokens) into Stripe's unit_amount_decimal: minor
// units per one unit as a decimal string with at most 12 decimals.
func ParseUnitPrice(flag, s, currency string, per int64) (string, error) {
	s = strings.TrimSpace(s)
	if !amountRE.MatchString(s) {
		return "", fmt.Errorf("invalid --%s %q: use a non-negative amount such as 0.50", flag, s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "", fmt.Errorf("invalid --%s %q", flag, s)
	}
	scale := int64(1)
	for range decimals(currency) {
		scale *= 10
	}
	r.Mul(r, big.NewRat(scale, per))
	out := r.FloatString(12)
	back, _ := new(big.Rat).SetString(out)
	if back.Cmp(r) != 0 {
		return "", fmt.Errorf("invalid --%s %q: per unit that is more than 12 decimals of a minor unit", flag, s)
	}
	out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	if len(out) > 20 {
		return "", fmt.Errorf("invalid --%s %q: too large", flag, s)
	}
	return out, nil
}

// FormatAmount writes minor units as a decimal amount ("99.00 USD").
func FormatAmount(minor int64, currency string) string {
	d := decimals(currency)
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := fmt.Sprintf("%d", minor)
	if d > 0 {
		for len(s) <= d {
			s = "0" + s
		}
		s = s[:len(s)-d] + "." + s[len(s)-d:]
	}
	if neg {
		s = "-" + s
	}
	return s + " " + strings.ToUpper(currency)
}

// ParseInterval checks a billing interval.
func ParseInterval(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "day", "week", "month", "year":
		return v, nil
	}
	return "", fmt.Errorf("invalid --interval %q: use day, week, month or year", s)
}
