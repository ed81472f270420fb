package ledger

import (
	"strings"
	"testing"
	"time"
)

func TestParsePeriod(t *testing.T) {
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		in         string
		start, end time.Time
	}{
		{"2026", d(2026, 1, 1), d(2027, 1, 1)},
		{"2026-05", d(2026, 5, 1), d(2026, 6, 1)},
		{"2026-12", d(2026, 12, 1), d(2027, 1, 1)},
		{"2026-02", d(2026, 2, 1), d(2026, 3, 1)},
		{"2026-Q1", d(2026, 1, 1), d(2026, 4, 1)},
		{"2026-Q2", d(2026, 4, 1), d(2026, 7, 1)},
		{"2026-q4", d(2026, 10, 1), d(2027, 1, 1)},
		{"2026-05-01", d(2026, 5, 1), d(2026, 5, 2)},
		{"2028-02-29", d(2028, 2, 29), d(2028, 3, 1)},
		{"2026-05-01..2026-05-31", d(2026, 5, 1), d(2026, 6, 1)},
		{"2026-05-07..2026-05-07", d(2026, 5, 7), d(2026, 5, 8)},
		{"2026-12-31..2027-01-01", d(2026, 12, 31), d(2027, 1, 2)},
	} {
		s, e, err := ParsePeriod(c.in)
		if err != nil || !s.Equal(c.start) || !e.Equal(c.end) || s.Location() != time.UTC {
			t.Errorf("ParsePeriod(%q) = %v, %v, %v; want %v, %v", c.in, s, e, err, c.start, c.end)
		}
	}
	for _, in := range []string{
		"", "26", "2026-5", "2026-13", "2026-00", "2026-Q0", "2026-Q5", "2026Q2", "2026-02-30",
		"2026-05-1", "2026-05-31..2026-05-01", "2026-05-01..", "..2026-05-01", "2026-05..2026-06",
		"+026-05", "2026-05-01T00:00:00Z", " 2026-05", "2026-05-01...2026-05-02", "２０２６",
	} {
		_, _, err := ParsePeriod(in)
		if err == nil {
			t.Errorf("ParsePeriod(%q) accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), "2026-Q2") || !strings.Contains(err.Error(), "2026-05-01..2026-05-31") {
			t.Errorf("ParsePeriod(%q): the error %q does not name the accepted forms", in, err)
		}
	}
}

func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"2026", "2026-05", "2026-Q2", "2026-05-01", "2026-05-01..2026-05-31", "2026-02-30", "x..y", "9999-Q4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := ParsePeriod(s)
		if err != nil {
			if !strings.Contains(err.Error(), "want 2026") {
				t.Fatalf("error %q does not name the forms", err)
			}
			return
		}
		if !end.After(start) {
			t.Fatalf("%q: end %v not after start %v", s, end, start)
		}
		for _, tm := range []time.Time{start, end} {
			if tm.Location() != time.UTC || tm.Hour() != 0 || tm.Minute() != 0 || tm.Second() != 0 || tm.Nanosecond() != 0 {
				t.Fatalf("%q: %v is not a UTC midnight", s, tm)
			}
		}
		if !strings.Contains(s, "..") && end.Sub(start) > 366*24*time.Hour {
			t.Fatalf("%q: %v is longer than a year", s, end.Sub(start))
		}
		// The start's own day parses back to the same day.
		if s2, _, err := ParsePeriod(start.Format(time.DateOnly)); err == nil && !s2.Equal(start) {
			t.Fatalf("%q: start %v reparsed as %v", s, start, s2)
		}
	})
}
