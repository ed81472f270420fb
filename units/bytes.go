package units

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// byteSuffixes are Kubernetes' quantity suffixes: binary with "i", decimal
// without. "K" is accepted besides Kubernetes' "k" because users type it.
var byteSuffixes = map[string]int64{
	"":   1,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60,
	"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
}

// Largest first, for FormatBytes.
var (
	binaryUnits  = []string{"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"}
	decimalUnits = []string{"E", "P", "T", "G", "M", "k"}
)

var bytesRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$`)

const bytesWant = `want a non-negative number with an optional suffix ` +
	`Ki, Mi, Gi, Ti, Pi, Ei (powers of 1024) or k, M, G, T, P, E (powers of 1000), ` +
	`e.g. "8Gi", "512Mi", "1.5Gi", "100M", "1024"`

// ParseBytes parses a size such as "8Gi", "512Mi", "1G", "1.5Gi" or "1024"
// into bytes. A trailing "B" ("8GiB", "8GB") is tolerated. Fractions that
// do not come to a whole byte are rounded up, as Kubernetes does.
func ParseBytes(s string) (int64, error) {
	fail := func(want string) (int64, error) {
		return 0, &Error{What: "size", Input: s, Want: want}
	}
	in := strings.TrimSpace(s)
	if len(in) > maxInputLen {
		return fail("too long; " + bytesWant)
	}
	if strings.HasPrefix(in, "-") {
		return fail("must not be negative; " + bytesWant)
	}
	m := bytesRE.FindStringSubmatch(in)
	if m == nil {
		return fail(bytesWant)
	}
	suffix := m[2]
	if suffix != "B" {
		suffix = strings.TrimSuffix(suffix, "B")
	} else {
		suffix = ""
	}
	mult, ok := byteSuffixes[suffix]
	if !ok {
		return fail("unknown suffix " + strconv.Quote(m[2]) + "; " + bytesWant)
	}
	// big.Rat keeps "1.5Gi" exact, where float64 would not for large values.
	v, _ := new(big.Rat).SetString(m[1]) // the regexp admits only decimals
	v.Mul(v, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(v.Num(), v.Denom())
	if !v.IsInt() {
		n.Add(n, big.NewInt(1))
	}
	if !n.IsInt64() {
		return fail("too large; the maximum is " + strconv.FormatInt(math.MaxInt64, 10) + " bytes")
	}
	return n.Int64(), nil
}

// FormatBytes prints n with the largest binary suffix that divides it
// exactly ("8Gi", "1536Mi"); values that are no multiple of 1024 use the
// largest exact decimal suffix ("100M") or none ("100").
func FormatBytes(n int64) string {
	for _, units := range [][]string{binaryUnits, decimalUnits} {
		for _, u := range units {
			if mult := byteSuffixes[u]; n != 0 && n%mult == 0 {
				return strconv.FormatInt(n/mult, 10) + u
			}
		}
	}
	return strconv.FormatInt(n, 10)
}

// HumanBytes prints n rounded to one decimal of the largest binary suffix
// it reaches, as the guide's reports show sizes: "2.3Gi", "850Mi", "12Ki",
// "100" (bytes).
func HumanBytes(n int64) string {
	const suffixes = "KMGTPE"
	if n < 1024 && n > -1024 {
		return strconv.FormatInt(n, 10)
	}
	v, i := float64(n)/1024, 0
	for ; (v >= 1024 || v <= -1024) && i < len(suffixes)-1; i++ {
		v /= 1024
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if strings.HasSuffix(s, ".0") {
		s = s[:len(s)-2]
	}
	return s + string(suffixes[i]) + "i"
}
