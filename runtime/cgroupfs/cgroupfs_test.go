package cgroupfs

import (
	"github.com/clawd-dev/clawd/internal/testenv"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"

	"github.com/clawd-dev/clawd/runtime"
)

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		in            string
		quota, period int64
		wantErr       bool
	}{
		{in: "150000 100000", quota: 150000, period: 100000},
		{in: "max 100000", quota: -1, period: 100000},
		{in: "max", wantErr: true},
		{in: "1 2 3", wantErr: true},
		{in: "x 100000", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q, p, err := parseCPUMax(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if q != tt.quota || p != tt.period {
				t.Fatalf("got %d %d, want %d %d", q, p, tt.quota, tt.period)
			}
		})
	}
}

func TestParseMax(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "max", want: -1},
		{in: "512", want: 512},
		{in: "-1", want: -1},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseMax(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseMax(%q) = %d, %v; want %d, wantErr %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestLimitsNanoCPUs(t *testing.T) {
	tests := []struct {
		l    Limits
		want int64
	}{
		{Limits{CPUQuota: 150000, CPUPeriod: 100000}, 1_500_000_000},
		{Limits{CPUQuota: -1, CPUPeriod: 100000}, 0},
		{Limits{CPUQuota: 50000, CPUPeriod: 0}, 0},
	}
	for _, tt := range tests {
		if got := tt.l.NanoCPUs(); got != tt.want {
			t.Errorf("%+v.NanoCPUs() = %d, want %d", tt.l, got, tt.want)
		}
	}
}

func TestReadV1(t *testing.T) {
	root := filepath.Join("testdata", "v1")
	tests := []struct {
		group      string
		want       runtime.Stats
		wantLimits Limits
	}{
		{
			group: "/docker/capped",
			want: runtime.Stats{
				CPUUsage:         84056015 * time.Nanosecond,
				MemoryWorkingSet: 1515520 - 409600,
				MemoryLimit:      268435456,
				OOMKills:         2,
				Pids:             4,
			},
			wantLimits: Limits{CPUQuota: 150000, CPUPeriod: 100000, MemoryLimit: 268435456, PidsMax: 512},
		},
		{
			group: "/docker/uncapped",
			want: runtime.Stats{
				CPUUsage:         84056015 * time.Nanosecond,
				MemoryWorkingSet: 1515520 - 409600,
				Pids:             4,
			},
			wantLimits: Limits{CPUQuota: -1, CPUPeriod: 100000, PidsMax: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			got, err := readV1(root, cgroup1.StaticPath(tt.group))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("readV1 = %+v, want %+v", got, tt.want)
			}
			l, err := readLimitsV1(root, cgroup1.StaticPath(tt.group))
			if err != nil {
				t.Fatal(err)
			}
			if l != tt.wantLimits {
				t.Errorf("readLimitsV1 = %+v, want %+v", l, tt.wantLimits)
			}
		})
	}
}

func TestReadV2(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("testdata", "v2"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		group      string
		want       runtime.Stats
		wantLimits Limits
	}{
		{
			group: "/system.slice/docker-capped.scope",
			want: runtime.Stats{
				CPUUsage:         84056 * time.Microsecond,
				MemoryWorkingSet: 1515520 - 409600,
				MemoryLimit:      268435456,
				OOMKills:         3,
				Pids:             4,
			},
			wantLimits: Limits{CPUQuota: 150000, CPUPeriod: 100000, MemoryLimit: 268435456, PidsMax: 512},
		},
		{
			group: "/system.slice/docker-uncapped.scope",
			want: runtime.Stats{
				CPUUsage:         84056 * time.Microsecond,
				MemoryWorkingSet: 1515520 - 409600,
				Pids:             4,
			},
			wantLimits: Limits{CPUQuota: -1, CPUPeriod: 100000, PidsMax: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			got, err := readV2(root, tt.group)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("readV2 = %+v, want %+v", got, tt.want)
			}
			l, err := readLimitsV2(filepath.Join(root, tt.group))
			if err != nil {
				t.Fatal(err)
			}
			if l != tt.wantLimits {
				t.Errorf("readLimitsV2 = %+v, want %+v", l, tt.wantLimits)
			}
		})
	}
}

func TestWorkingSet(t *testing.T) {
	if got := workingSet(100, 30); got != 70 {
		t.Errorf("workingSet(100, 30) = %d", got)
	}
	// The counters are read one after the other and can cross.
	if got := workingSet(100, 130); got != 0 {
		t.Errorf("workingSet(100, 130) = %d", got)
	}
}

// TestReadPidSelf reads this test process's own cgroup on the host, whatever
// its version, as a smoke test of the mode detection and path resolution.
func TestReadPidSelf(t *testing.T) {
	if cgroups.Mode() == cgroups.Unavailable {
		testenv.Missing(t, "no cgroup filesystem")
	}
	st, err := ReadPid(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Pids stays 0 when the process sits in the root pids cgroup.
	if st.CPUUsage <= 0 || st.MemoryWorkingSet == 0 {
		t.Errorf("implausible stats of self: %+v", st)
	}
	if _, err := ReadLimits(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPid(0); err == nil {
		t.Error("ReadPid(0) succeeded")
	}
}
