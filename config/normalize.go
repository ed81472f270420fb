package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clawd-dev/clawd/units"
)

// maxStringLen bounds String values such as model names.
const maxStringLen = 200

// Normalize checks value for key and returns the form to store: booleans
// lowercased, enums in their canonical spelling, durations and paths
// canonical. Normalizing a normalized value returns it unchanged.
func Normalize(key, value string) (string, error) {
	k, _, err := Lookup(key)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(value)
	out, want := normalize(k, v)
	if want != "" {
		return "", fmt.Errorf("invalid value %q for %s: want %s", value, key, want)
	}
	return out, nil
}

// normalize returns the canonical value, or "" and what is accepted.
func normalize(k Key, v string) (string, string) {
	switch k.Kind {
	case String:
		want := fmt.Sprintf("1 to %d characters without whitespace, e.g. gpt-4o", maxStringLen)
		if v == "" || !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxStringLen ||
			strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return "", want
		}
		return v, ""
	case Bool:
		switch strings.ToLower(v) {
		case "true", "yes", "on", "1":
			return "true", ""
		case "false", "no", "off", "0":
			return "false", ""
		}
		return "", "true or false"
	case Int:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < k.Min || n > k.Max {
			return "", fmt.Sprintf("a whole number from %d to %d", k.Min, k.Max)
		}
		return strconv.FormatInt(n, 10), ""
	case Duration:
		d, err := units.ParseDuration(v)
		if err != nil {
			return "", `a duration such as "90d", "2w", "1h30m" or "5m"`
		}
		return units.FormatDuration(d), ""
	case Enum:
		for _, e := range k.Enum {
			if strings.EqualFold(v, e) {
				return e, ""
			}
		}
		return "", "one of " + strings.Join(k.Enum, ", ")
	case Path:
		want := "an absolute path, e.g. /var/lib/openclaw/tenants/tenant-a/skills"
		if !filepath.IsAbs(v) || strings.ContainsFunc(v, unicode.IsControl) || !utf8.ValidString(v) {
			return "", want
		}
		v = filepath.Clean(v)
		if sys := systemDir(v); sys != "" {
			return "", want + ", outside " + sys + " (a tenant's gateway mounts it)"
		}
		return v, ""
	case List:
		return normalizeList(k, v)
	case Decimal:
		if !decimalRE.MatchString(v) {
			return "", "a non-negative amount with at most 6 decimals, e.g. 0.50"
		}
		return v, ""
	}
	return "", "nothing: key " + k.Pattern + " has no valid kind" // a registry bug; a test prevents it
}

var decimalRE = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,6})?$`)

// systemDirs are the host trees no Path value may name or lie in: a Path
// is mounted into a tenant's gateway (skills.path), and these hold the
// host's programs, secrets and container engines.
var systemDirs = []string{"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/root",
	"/run", "/sbin", "/sys", "/usr", "/var/lib/clawd", "/var/lib/containerd", "/var/lib/docker", "/var/run"}

// systemDir returns the system tree p is or lies in ("/" for the root
// itself), or "".
func systemDir(p string) string {
	if p == "/" {
		return "/"
	}
	for _, d := range systemDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return d
		}
	}
	return ""
}

// normalizeList returns the items in Enum order without duplicates, so equal
// sets compare equal; "all", when allowed, stands for every item.
func normalizeList(k Key, v string) (string, string) {
	want := "a comma-separated list of " + strings.Join(k.Enum, ", ")
	if slices.Contains(k.Enum, "all") {
		want = `"all" or a comma-separated list of ` + strings.Join(slices.DeleteFunc(slices.Clone(k.Enum),
			func(e string) bool { return e == "all" }), ", ")
	}
	seen := map[string]bool{}
	for item := range strings.SplitSeq(v, ",") {
		i := slices.IndexFunc(k.Enum, func(e string) bool { return strings.EqualFold(e, strings.TrimSpace(item)) })
		if i < 0 {
			return "", want
		}
		seen[k.Enum[i]] = true
	}
	if seen["all"] {
		return "all", ""
	}
	var out []string
	for _, e := range k.Enum {
		if seen[e] {
			out = append(out, e)
		}
	}
	return strings.Join(out, ","), ""
}
