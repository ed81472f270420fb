package units

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "90d", want: 90 * Day},
		{in: "365d", want: 365 * Day},
		{in: "2w", want: 14 * Day},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "2w3d4h5m6s", want: 17*Day + 4*time.Hour + 5*time.Minute + 6*time.Second},
		{in: "1h", want: time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "0.5d", want: 12 * time.Hour},
		{in: ".5d", want: 12 * time.Hour},
		{in: "300ms", want: 300 * time.Millisecond},
		{in: "1µs", want: time.Microsecond},
		{in: "1us", want: time.Microsecond},
		{in: "1ns", want: 1},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: " 5m ", want: 5 * time.Minute},
		{in: "106751d", want: 106751 * Day},
		{in: "", wantErr: "empty"},
		{in: "-1h", wantErr: "must not be negative"},
		{in: "106752d", wantErr: "too long a duration"},
		{in: "9999999999999999999w", wantErr: "too long a duration"},
		{in: "5", wantErr: "want a non-negative Go duration"},
		{in: "5y", wantErr: "want a non-negative Go duration"},
		{in: "5min", wantErr: "want a non-negative Go duration"},
		{in: "1d 12h", wantErr: "want a non-negative Go duration"},
		{in: "d", wantErr: "want a non-negative Go duration"},
		{in: "+5m", wantErr: "want a non-negative Go duration"},
		{in: "5D", wantErr: "want a non-negative Go duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// Anything time.ParseDuration accepts without a sign must mean the same here.
func TestParseDurationMatchesStdlib(t *testing.T) {
	for _, s := range []string{"1h2m3s", "1.5h", "2h45m", "300ms", "1.000000001s", "3m0.5s", "1.h", "0.0000000001s"} {
		t.Run(s, func(t *testing.T) {
			want, _ := time.ParseDuration(s)
			if got, err := ParseDuration(s); err != nil || got != want {
				t.Fatalf("ParseDuration(%q) = %v, %v; time.ParseDuration says %v", s, got, err, want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{90 * Day, "90d"},
		{Day, "1d"},
		{36 * time.Hour, "36h"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{5 * time.Minute, "5m"},
		{10 * time.Minute, "10m"},
		{time.Hour + 5*time.Second, "1h0m5s"},
		{1500 * time.Millisecond, "1.5s"},
		{-Day, "-1d"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatDuration(tt.in); got != tt.want {
				t.Fatalf("FormatDuration(%v) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90d", "365d", "2w", "1d12h", "1h30m", "1.5h", "300ms", "1µs", "0", "-1h", "106752d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		out := FormatDuration(d)
		back, err := ParseDuration(out)
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v; FormatDuration = %q; re-parsed as %v, %v", s, d, out, back, err)
		}
	})
}
