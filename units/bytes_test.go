package units

import (
	"errors"
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string // substring of the error; "" = success
	}{
		{in: "8Gi", want: 8 << 30},
		{in: "512Mi", want: 512 << 20},
		{in: "1G", want: 1e9},
		{in: "100M", want: 100e6},
		{in: "1024", want: 1024},
		{in: "0", want: 0},
		{in: "1.5Gi", want: 3 << 29},
		{in: "1Ki", want: 1024},
		{in: "2k", want: 2000},
		{in: "2K", want: 2000},
		{in: "1Ti", want: 1 << 40},
		{in: "1Pi", want: 1 << 50},
		{in: "1P", want: 1e15},
		{in: "8GiB", want: 8 << 30},
		{in: "8GB", want: 8e9},
		{in: "8B", want: 8},
		{in: " 8Gi ", want: 8 << 30},
		{in: "0.5", want: 1},            // rounded up to a whole byte
		{in: "2.3Gi", want: 2469606196}, // 2469606195.2, rounded up
		{in: "7Ei", want: 7 << 60},      // near the int64 limit
		{in: "9223372036854775807", want: 1<<63 - 1},
		{in: "", wantErr: "want a non-negative number"},
		{in: "-1Gi", wantErr: "must not be negative"},
		{in: "8Ei", wantErr: "too large"},
		{in: "9223372036854775808", wantErr: "too large"},
		{in: "99999999999999999999Pi", wantErr: "too large"},
		{in: "8gi", wantErr: `unknown suffix "gi"`},
		{in: "8Gx", wantErr: "unknown suffix"},
		{in: "8m", wantErr: "unknown suffix"},
		{in: "8 Gi", wantErr: "want a non-negative number"},
		{in: "1e9", wantErr: "want a non-negative number"},
		{in: "0x10", wantErr: "want a non-negative number"},
		{in: ".5Gi", wantErr: "want a non-negative number"},
		{in: "Gi", wantErr: "want a non-negative number"},
		{in: "1.Gi", wantErr: "want a non-negative number"},
		{in: strings.Repeat("9", 200), wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBytes(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseBytes(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				var perr *Error
				if !errors.As(err, &perr) || perr.Input != tt.in {
					t.Fatalf("error %v is not a *Error naming the input", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseBytes(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{100, "100"},
		{1000, "1k"},
		{1024, "1Ki"},
		{8 << 30, "8Gi"},
		{3 << 29, "1536Mi"},
		{100e6, "100M"},
		{1e9, "1G"},
		{1<<63 - 1, "9223372036854775807"},
		{7 << 60, "7Ei"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatBytes(tt.in); got != tt.want {
				t.Fatalf("FormatBytes(%d) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"8Gi", "512Mi", "1G", "100M", "1024", "1.5Gi", "0.5", "8GiB", "-1", "8Ei", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseBytes(%q) = %d, negative", s, n)
		}
		out := FormatBytes(n)
		back, err := ParseBytes(out)
		if err != nil || back != n {
			t.Fatalf("ParseBytes(%q) = %d; FormatBytes = %q; re-parsed as %d, %v", s, n, out, back, err)
		}
	})
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1000: "1000", 1024: "1Ki", 2469606195: "2.3Gi", 850 << 20: "850Mi", 1536: "1.5Ki", 1 << 60: "1Ei"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
