package units

import (
	"strings"
	"testing"
)

func TestParseCPU(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "4", want: 4000},
		{in: "0.5", want: 500},
		{in: "500m", want: 500},
		{in: "2.25", want: 2250},
		{in: "0.001", want: 1},
		{in: "1.500", want: 1500},
		{in: "0.1000", want: 100}, // trailing zeros add no precision
		{in: "0", want: 0},
		{in: "0m", want: 0},
		{in: "1024", want: 1024000},
		{in: "1024000m", want: 1024000},
		{in: "0004", want: 4000},
		{in: " 4 ", want: 4000},
		{in: "", wantErr: "want CPUs"},
		{in: "-1", wantErr: "must not be negative"},
		{in: "1025", wantErr: "more than 1024 CPUs"},
		{in: "1024.001", wantErr: "more than 1024 CPUs"},
		{in: "1024001m", wantErr: "more than 1024 CPUs"},
		{in: "99999999999999999999", wantErr: "more than 1024 CPUs"},
		{in: "0.0005", wantErr: "finer than 1m"},
		{in: "1.5m", wantErr: "finer than 1m"},
		{in: "4 cpus", wantErr: "want CPUs"},
		{in: "4M", wantErr: "want CPUs"},
		{in: ".5", wantErr: "want CPUs"},
		{in: "1e3", wantErr: "want CPUs"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCPU(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCPU(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCPU(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatCPU(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"}, {4000, "4"}, {500, "0.5"}, {2500, "2.5"}, {250, "250m"}, {2250, "2250m"}, {1, "1m"}, {1024000, "1024"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatCPU(tt.in); got != tt.want {
				t.Fatalf("FormatCPU(%d) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseCPU(f *testing.F) {
	for _, s := range []string{"4", "0.5", "500m", "2.25", "1024", "1025", "0.0005", "-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCPU(s)
		if err != nil {
			return
		}
		if n < 0 || n > MaxCPUMillis {
			t.Fatalf("ParseCPU(%q) = %d, out of range", s, n)
		}
		out := FormatCPU(n)
		back, err := ParseCPU(out)
		if err != nil || back != n {
			t.Fatalf("ParseCPU(%q) = %d; FormatCPU = %q; re-parsed as %d, %v", s, n, out, back, err)
		}
	})
}
