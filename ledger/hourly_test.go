package ledger

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestHours(t *testing.T) {
	eachBackend(t, func(t *testing.T, o Options) {
		l := open(t, o)
		h0 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
		mustWrite(t, l, []Event{
			{ID: "a", Time: h0.Add(5 * time.Minute), Namespace: "tenant-a", Model: "p/m1", Calls: 1, InputTokens: 10, OutputTokens: 5},
			{ID: "b", Time: h0.Add(50 * time.Minute), Namespace: "tenant-a", Model: "p/m2", Calls: 2, InputTokens: 1, OutputTokens: 1},
			{ID: "c", Time: h0.Add(7 * time.Minute), Namespace: "tenant-a", APIRequests: 3, StorageBytes: 100},
			{ID: "d", Time: h0.Add(8 * time.Minute), Namespace: "tenant-a", StorageBytes: 300},
			{ID: "e", Time: h0.Add(20 * time.Minute), Namespace: "tenant-b", APIRequests: 1},
			{ID: "f", Time: h0.Add(61 * time.Minute), Namespace: "tenant-a", APIRequests: 4},
			{ID: "g", Time: h0.Add(125 * time.Minute), Namespace: "tenant-a", APIRequests: 9},
		})
		ctx := context.Background()
		got, err := l.Hours(ctx, h0, h0.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []Hour{
			{Namespace: "tenant-a", Hour: h0, APIRequests: 3, Calls: 3, InputTokens: 11, OutputTokens: 6, StorageMax: 300},
			{Namespace: "tenant-b", Hour: h0, APIRequests: 1},
			{Namespace: "tenant-a", Hour: h0.Add(time.Hour), APIRequests: 4},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Hours:\n got %+v\nwant %+v", got, want)
		}
		// A cursor one hour on sees the rest; an empty range sees nothing.
		got, err = l.Hours(ctx, h0.Add(time.Hour), h0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].APIRequests != 4 || got[1].APIRequests != 9 {
			t.Fatalf("Hours from the next hour: %+v", got)
		}
		if got, err := l.Hours(ctx, h0, h0); err != nil || len(got) != 0 {
			t.Fatalf("empty range: %+v, %v", got, err)
		}
	})
}
