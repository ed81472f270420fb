package metering

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/clawd-dev/clawd/ledger"
)

type discard struct{}

func (discard) Add(ledger.Event) {}

// Counted is on the router's hot path: every forwarded request and
// WebSocket request frame calls it, from every connection's goroutine.
func BenchmarkCounted(b *testing.B) {
	for _, spread := range []int{1, 64} {
		b.Run("namespaces="+strconv.Itoa(spread), func(b *testing.B) {
			m := New(Config{Node: "n", Sink: discard{}})
			names := make([]string, spread)
			for i := range names {
				names[i] = "ns-" + strconv.Itoa(i)
			}
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				ns := names[int(next.Add(1))%spread]
				for pb.Next() {
					m.Counted(ns, 1)
				}
			})
		})
	}
}
