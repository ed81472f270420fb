package billing

import (
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in, cur string
		want    int64
		err     string
	}{
		{"99.00", "usd", 9900, ""},
		{"99", "usd", 9900, ""},
		{"99.9", "usd", 9990, ""},
		{"0.01", "eur", 1, ""},
		{"99.990", "usd", 9999, ""}, // a trailing zero is no extra precision
		{"1000", "jpy", 1000, ""},
		{"-1", "usd", 0, "non-negative"},
		{"99.999", "usd", 0, "at most 2 decimals"},
		{"1.5", "jpy", 0, "at most 0 decimals"},
		{"1e3", "usd", 0, "non-negative amount"},
		{"", "usd", 0, "non-negative amount"},
		{"1,000.00", "usd", 0, "non-negative amount"},
		{"1000000.00", "usd", 0, "too large"},
	} {
		t.Run(tc.in+"/"+tc.cur, func(t *testing.T) {
			got, err := ParseAmount(tc.in, tc.cur)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseAmount(%q) = %d, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseAmount(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseCurrencyAndInterval(t *testing.T) {
	for in, want := range map[string]string{"USD": "usd", "eur": "eur", " Jpy ": "jpy"} {
		if got, err := ParseCurrency(in); err != nil || got != want {
			t.Errorf("ParseCurrency(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"usd$", "US", "dollars", "", "u5d"} {
		if _, err := ParseCurrency(bad); err == nil || !strings.Contains(err.Error(), "ISO 4217") {
			t.Errorf("ParseCurrency(%q): %v", bad, err)
		}
	}
	for _, ok := range []string{"day", "week", "Month", "year"} {
		if _, err := ParseInterval(ok); err != nil {
			t.Errorf("ParseInterval(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"fortnight", "", "monthly"} {
		if _, err := ParseInterval(bad); err == nil || !strings.Contains(err.Error(), "day, week, month or year") {
			t.Errorf("ParseInterval(%q): %v", bad, err)
		}
	}
}

func TestParseUnitPrice(t *testing.T) {
	for _, tc := range []struct {
		in, cur string
		per     int64
		want    string
	}{
		{"0.50", "usd", 1000, "0.05"}, // 50 cents per 1000 → 0.05 cents each
		{"2", "usd", 1000, "0.2"},     // 200 cents per 1000
		{"0.01", "usd", 1024, "0.0009765625"},
		{"3", "jpy", 1000, "0.003"},
		{"0", "usd", 1000, "0"},
	} {
		got, err := ParseUnitPrice("x", tc.in, tc.cur, tc.per)
		if err != nil || got != tc.want {
			t.Errorf("ParseUnitPrice(%q, %s, %d) = %q, %v; want %q", tc.in, tc.cur, tc.per, got, err, tc.want)
		}
	}
	for _, bad := range []string{"-1", "abc", "0.0000000000001"} {
		if got, err := ParseUnitPrice("x", bad, "usd", 1000); err == nil {
			t.Errorf("ParseUnitPrice(%q) = %q, want an error", bad, got)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct {
		minor int64
		cur   string
		want  string
	}{{9900, "usd", "99.00 USD"}, {5, "eur", "0.05 EUR"}, {1000, "jpy", "1000 JPY"}, {-250, "usd", "-2.50 USD"}} {
		if got := FormatAmount(tc.minor, tc.cur); got != tc.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tc.minor, tc.cur, got, tc.want)
		}
	}
}
