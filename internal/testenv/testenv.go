// Package testenv decides what a test does when something it needs from
// the machine (the Docker engine, a tool, a cgroup filesystem) is missing.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Required is set (CLAWD_REQUIRE_DOCKER=1, as CI does) when a missing
// engine or tool must fail a test rather than skip it: a run that tested
// nothing must not look green.
func Required() bool { return os.Getenv("CLAWD_REQUIRE_DOCKER") == "1" }

// Missing skips t for want of what why names, or fails it when Required.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (CLAWD_REQUIRE_DOCKER=1: a missing engine or tool fails the test)", msg)
	}
	t.Skip(msg)
}
