package reaper

import (
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	policy := IdlePolicy{Enabled: true, PauseAfter: 5 * time.Minute, StopAfter: time.Hour, EvictAfter: 24 * time.Hour}
	compress := policy
	compress.CompressAfter = 15 * time.Minute
	ns := func(phase namespace.Phase, since time.Time) namespace.Namespace {
		n := namespace.Namespace{
			Spec:   namespace.Spec{Name: "alpha", CreatedAt: ago(48 * time.Hour)},
			Status: namespace.Status{Phase: phase, Since: since},
		}
		if namespace.ValidTarget(phase) {
			n.Spec.Target = phase // asleep: put there by a sleep
		}
		return n
	}
	tests := []struct {
		name string
		ns   namespace.Namespace
		p    IdlePolicy
		idle Idle
		want namespace.Phase
	}{
		{"busy", ns(namespace.PhaseRunning, ago(time.Hour)), policy, Idle{Last: ago(time.Hour), Active: 1, FirstSeen: ago(2 * time.Hour)}, ""},
		{"recent request", ns(namespace.PhaseRunning, ago(time.Hour)), policy, Idle{Last: ago(time.Minute), FirstSeen: ago(2 * time.Hour)}, ""},
		{"idle 6m", ns(namespace.PhaseRunning, ago(time.Hour)), policy, Idle{Last: ago(6 * time.Minute), FirstSeen: ago(2 * time.Hour)}, namespace.PhasePaused},
		{"idle 2h", ns(namespace.PhasePaused, ago(time.Hour)), policy, Idle{Last: ago(2 * time.Hour), FirstSeen: ago(3 * time.Hour)}, namespace.PhaseStopped},
		{"idle 2d", ns(namespace.PhaseStopped, ago(time.Hour)), policy, Idle{Last: ago(48 * time.Hour), FirstSeen: ago(48 * time.Hour)}, namespace.PhaseEvicted},
		{"woken by hand", ns(namespace.PhaseRunning, ago(time.Minute)), policy, Idle{Last: ago(2 * time.Hour), FirstSeen: ago(3 * time.Hour)}, ""},
		{"opted out", ns(namespace.PhaseRunning, ago(time.Hour)), IdlePolicy{PauseAfter: time.Minute}, Idle{FirstSeen: ago(time.Hour)}, ""},
		{"min instances", ns(namespace.PhaseRunning, ago(time.Hour)), IdlePolicy{Enabled: true, PauseAfter: time.Minute, MinInstances: 1}, Idle{FirstSeen: ago(time.Hour)}, ""},
		{"evicted", ns(namespace.PhaseEvicted, ago(48*time.Hour)), policy, Idle{FirstSeen: ago(48 * time.Hour)}, ""},
		// After a restart of clawd: nothing known of the traffic, first seen
		// just now. A Running namespace starts its clock again; a sleeping
		// one has been idle at least since it fell asleep.
		{"restart, running", ns(namespace.PhaseRunning, ago(3*time.Hour)), policy, Idle{FirstSeen: ago(time.Minute)}, ""},
		{"restart, paused 2h ago", ns(namespace.PhasePaused, ago(2*time.Hour)), policy, Idle{FirstSeen: ago(time.Minute)}, namespace.PhaseStopped},
		{"restart, stopped 2d ago", ns(namespace.PhaseStopped, ago(48*time.Hour)), policy, Idle{FirstSeen: ago(time.Minute)}, namespace.PhaseEvicted},
		{"restart, paused 10m ago", ns(namespace.PhasePaused, ago(10*time.Minute)), policy, Idle{FirstSeen: ago(time.Minute)}, ""},
		// The Compressed tier sits between Paused and Stopped.
		{"compress: idle 20m", ns(namespace.PhasePaused, ago(15*time.Minute)), compress, Idle{Last: ago(20 * time.Minute), FirstSeen: ago(time.Hour)}, namespace.PhaseCompressed},
		{"compress: idle 6m", ns(namespace.PhaseRunning, ago(time.Hour)), compress, Idle{Last: ago(6 * time.Minute), FirstSeen: ago(time.Hour)}, namespace.PhasePaused},
		{"compress: already", ns(namespace.PhaseCompressed, ago(10*time.Minute)), compress, Idle{Last: ago(30 * time.Minute), FirstSeen: ago(time.Hour)}, ""},
		{"compress: then stop", ns(namespace.PhaseCompressed, ago(time.Hour)), compress, Idle{Last: ago(2 * time.Hour), FirstSeen: ago(3 * time.Hour)}, namespace.PhaseStopped},
		{"compress: restart, compressed 2h ago", ns(namespace.PhaseCompressed, ago(2*time.Hour)), compress, Idle{FirstSeen: ago(time.Minute)}, namespace.PhaseStopped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.ns, tt.p, tt.idle, now); got != tt.want {
				t.Errorf("Decide = %q, want %q", got, tt.want)
			}
		})
	}
}
