package units

import (
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    Rate
		str     string // canonical String()
		wantErr string
	}{
		{in: "1000/hour", want: Rate{1000, time.Hour}, str: "1000/hour"},
		{in: "10/second", want: Rate{10, time.Second}, str: "10/second"},
		{in: "5/minute", want: Rate{5, time.Minute}, str: "5/minute"},
		{in: "100000/day", want: Rate{100000, Day}, str: "100000/day"},
		{in: "1000/h", want: Rate{1000, time.Hour}, str: "1000/hour"},
		{in: "10/s", want: Rate{10, time.Second}, str: "10/second"},
		{in: "5/m", want: Rate{5, time.Minute}, str: "5/minute"},
		{in: "1000/1h", want: Rate{1000, time.Hour}, str: "1000/hour"},
		{in: "1000/60m", want: Rate{1000, time.Hour}, str: "1000/hour"},
		{in: "50/90m", want: Rate{50, 90 * time.Minute}, str: "50/1h30m"},
		{in: "7/2d", want: Rate{7, 2 * Day}, str: "7/2d"},
		{in: "3/week", want: Rate{3, 7 * Day}, str: "3/week"},
		{in: "1000/Hour", want: Rate{1000, time.Hour}, str: "1000/hour"},
		{in: " 1000 / hours ", want: Rate{1000, time.Hour}, str: "1000/hour"},
		{in: "", wantErr: "want N/PERIOD"},
		{in: "1000", wantErr: "want N/PERIOD"},
		{in: "0/hour", wantErr: "count must be a whole number >= 1"},
		{in: "-5/hour", wantErr: "count must be a whole number >= 1"},
		{in: "+5/hour", wantErr: "count must be a whole number >= 1"},
		{in: "1.5/hour", wantErr: "count must be a whole number >= 1"},
		{in: "99999999999999999999/hour", wantErr: "count must be a whole number >= 1"},
		{in: "10/fortnight", wantErr: "period must be a unit or a positive duration"},
		{in: "10/0s", wantErr: "period must be a unit or a positive duration"},
		{in: "10/-1h", wantErr: "period must be a unit or a positive duration"},
		{in: "10/hour/2", wantErr: "period must be a unit or a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRate(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRate(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Fatalf("String() = %q; want %q", s, tt.str)
			}
		})
	}
}

func TestRatePerSecond(t *testing.T) {
	tests := []struct {
		r    Rate
		want float64
	}{
		{Rate{3600, time.Hour}, 1},
		{Rate{10, time.Second}, 10},
		{Rate{1, 500 * time.Millisecond}, 2},
		{Rate{5, 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.r.String(), func(t *testing.T) {
			if got := tt.r.PerSecond(); got != tt.want {
				t.Fatalf("PerSecond() = %v; want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"1000/hour", "10/s", "5/m", "100000/day", "1000/1h", "50/90m", "0/hour", "1/1ns", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.N < 1 || r.Per <= 0 || r.PerSecond() <= 0 {
			t.Fatalf("ParseRate(%q) = %+v, not positive", s, r)
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %+v; String = %q; re-parsed as %+v, %v", s, r, r.String(), back, err)
		}
	})
}
