//go:build race

package integration

// raceEnabled: the tests run under the race detector, and so does the
// daemon they build, so a data race in clawd fails them.
const raceEnabled = true
