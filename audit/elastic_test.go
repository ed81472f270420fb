package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// bulkServer follows Elasticsearch's documented _bulk API: POST /_bulk with
// Content-Type application/x-ndjson, pairs of an action line and a source
// line, a 200 reply {"took","errors","items":[{"index":{"_index","_id","status"}}]}.
// It fails the first request with 503 and, once, each id in throttle with
// an item status of 429.
type bulkServer struct {
	mu       sync.Mutex
	docs     map[string]Record
	requests int
	throttle map[string]bool
}

func (b *bulkServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests++
	if r.Method != http.MethodPost || r.URL.Path != "/_bulk" || r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	if b.requests == 1 {
		http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	type item struct {
		Index  string `json:"_index"`
		ID     string `json:"_id"`
		Status int    `json:"status"`
	}
	var items []map[string]item
	errors := false
	for sc.Scan() {
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || len(action) != 1 {
			http.Error(w, "malformed action line", http.StatusBadRequest)
			return
		}
		a, ok := action["index"]
		if !ok || !sc.Scan() {
			http.Error(w, "want an index action and a source line", http.StatusBadRequest)
			return
		}
		var doc Record
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			http.Error(w, "malformed source line", http.StatusBadRequest)
			return
		}
		it := item{Index: a.Index, ID: a.ID, Status: http.StatusCreated}
		if b.throttle[a.ID] {
			delete(b.throttle, a.ID)
			it.Status, errors = http.StatusTooManyRequests, true
		} else {
			if _, seen := b.docs[a.ID]; seen {
				it.Status = http.StatusOK
			}
			b.docs[a.ID] = doc
		}
		items = append(items, map[string]item{"index": it})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": errors, "items": items})
}

func TestShipperBulk(t *testing.T) {
	es := &bulkServer{docs: map[string]Record{}, throttle: map[string]bool{"a/2": true}}
	srv := httptest.NewServer(es)
	defer srv.Close()
	s := &Shipper{URL: func() string { return srv.URL + "/" }}
	var recs []Record
	for i := 1; i <= 5; i++ {
		r := rec("a", TypeAuth, "key_refused", i)
		r.chain(int64(i-1), GenesisHash)
		recs = append(recs, r)
	}
	s.Add(recs)
	ctx := context.Background()
	if err := s.Ship(ctx); err == nil || !strings.Contains(err.Error(), "503") || s.Pending() != 5 {
		t.Fatalf("first ship: %v, %d pending", err, s.Pending())
	}
	if err := s.Ship(ctx); err == nil || s.Pending() != 1 {
		t.Fatalf("second ship: %v, %d pending (a/2 was throttled)", err, s.Pending())
	}
	if err := s.Ship(ctx); err != nil || s.Pending() != 0 {
		t.Fatalf("third ship: %v, %d pending", err, s.Pending())
	}
	if len(es.docs) != 5 {
		t.Fatalf("%d documents indexed, want 5", len(es.docs))
	}
	for i := 1; i <= 5; i++ {
		d, ok := es.docs[fmt.Sprintf("a/%d", i)]
		if !ok || d.Hash != recs[i-1].Hash || d.ComputeHash() != d.Hash {
			t.Fatalf("document a/%d: %+v", i, d)
		}
	}
	// Without a URL the queue waits.
	s.URL = func() string { return "" }
	s.Add(recs[:1])
	if err := s.Ship(ctx); err != nil || s.Pending() != 1 {
		t.Fatalf("no URL: %v, %d pending", err, s.Pending())
	}
}

// The writer hands each committed batch, chained, to Committed.
func TestWriterCommitted(t *testing.T) {
	l := openLedger(t, ledgerOptionsSQLite(t))
	var got []Record
	w := NewWriter(New(l), WriterOptions{Committed: func(r []Record) { got = append(got, r...) }})
	w.Record(rec("a", TypeAdmin, "x", 1))
	w.Record(rec("a", TypeAdmin, "x", 2))
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Seq != 2 || got[1].PrevHash != got[0].Hash {
		t.Fatalf("committed %+v", got)
	}
}
