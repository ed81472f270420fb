package units

import (
	"regexp"
	"strconv"
	"strings"
)

// MaxCPUMillis is the largest CPU quantity accepted: 1024 CPUs.
const MaxCPUMillis = 1024 * 1000

var cpuRE = regexp.MustCompile(`^([0-9]+)(?:\.([0-9]+))?(m?)$`)

const cpuWant = `want CPUs with at most 3 decimals ("4", "0.5", "2.25") ` +
	`or whole millicores ("500m"), from 0 to 1024 CPUs`

// ParseCPU parses a CPU quantity in CPUs ("4", "0.5") or millicores
// ("500m") and returns millicores.
func ParseCPU(s string) (int64, error) {
	fail := func(want string) (int64, error) {
		return 0, &Error{What: "CPU quantity", Input: s, Want: want}
	}
	in := strings.TrimSpace(s)
	if len(in) > maxInputLen {
		return fail("too long; " + cpuWant)
	}
	if strings.HasPrefix(in, "-") {
		return fail("must not be negative; " + cpuWant)
	}
	m := cpuRE.FindStringSubmatch(in)
	if m == nil {
		return fail(cpuWant)
	}
	whole, frac, milli := strings.TrimLeft(m[1], "0"), strings.TrimRight(m[2], "0"), m[3] == "m"
	if len(whole) > 8 { // more than any valid value, and safe from overflow below
		return fail("more than 1024 CPUs")
	}
	n, _ := strconv.ParseInt("0"+whole, 10, 64)
	switch {
	case milli && frac != "":
		return fail("finer than 1m; " + cpuWant)
	case !milli && len(frac) > 3:
		return fail("finer than 1m (0.001 CPU); " + cpuWant)
	case !milli:
		f, _ := strconv.ParseInt(frac+strings.Repeat("0", 3-len(frac)), 10, 64)
		n = n*1000 + f
	}
	if n > MaxCPUMillis {
		return fail("more than 1024 CPUs")
	}
	return n, nil
}

// FormatCPU prints whole CPUs and tenths as CPUs ("4", "0.5", "2.5") and
// anything finer as millicores ("250m", "2250m"), so no output carries more
// than one decimal.
func FormatCPU(millis int64) string {
	switch {
	case millis%1000 == 0:
		return strconv.FormatInt(millis/1000, 10)
	case millis%100 == 0:
		return strconv.FormatFloat(float64(millis)/1000, 'f', 1, 64)
	default:
		return strconv.FormatInt(millis, 10) + "m"
	}
}
