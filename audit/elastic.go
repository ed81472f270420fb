package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ElasticIndex is the index records are shipped to.
const ElasticIndex = "clawd-audit"

// Shipper sends committed records to Elasticsearch with the _bulk API
// (NDJSON: an action line {"index":{"_index","_id"}}, then the document).
// The _id is <namespace>/<seq>, so a retried document overwrites itself
// rather than doubling. Add never blocks; Run ships every interval and
// retries what failed (a whole request, or the items a reply marks 429 or
// 5xx) with capped backoff. The ledger stays the record of truth: a queue
// past MaxQueue drops (and counts) the oldest.
type Shipper struct {
	URL      func() string // the cluster's base URL, read per request ("" holds the queue)
	Client   *http.Client
	Every    time.Duration
	MaxQueue int
	Log      hclog.Logger

	mu      sync.Mutex
	queue   []Record
	dropped int64
}

// Add queues records for shipping.
func (s *Shipper) Add(recs []Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, recs...)
	if max := s.maxQueue(); len(s.queue) > max {
		s.dropped += int64(len(s.queue) - max)
		s.queue = append([]Record(nil), s.queue[len(s.queue)-max:]...)
	}
}

func (s *Shipper) maxQueue() int {
	if s.MaxQueue > 0 {
		return s.MaxQueue
	}
	return 100000
}

// Pending is how many records wait to be shipped.
func (s *Shipper) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Run ships until ctx ends.
func (s *Shipper) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = time.Second
	}
	backoff := every
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if err := s.Ship(ctx); err != nil {
			if s.Log != nil {
				s.Log.Warn("shipping audit records to elasticsearch failed; retrying", "pending", s.Pending(), "error", err)
			}
			backoff = min(backoff*2, time.Minute)
			continue
		}
		backoff = every
	}
}

// Ship sends what is queued in one _bulk request; the records it could not
// index go back to the queue.
func (s *Shipper) Ship(ctx context.Context) error {
	base := ""
	if s.URL != nil {
		base = strings.TrimRight(s.URL(), "/")
	}
	s.mu.Lock()
	batch := s.queue
	s.queue = nil
	s.mu.Unlock()
	if len(batch) == 0 || base == "" {
		s.requeue(batch)
		return nil
	}
	failed, err := s.bulk(ctx, base, batch)
	if err != nil {
		s.requeue(batch)
		return err
	}
	s.requeue(failed)
	if len(failed) > 0 {
		return fmt.Errorf("elasticsearch refused %d of %d records for now", len(failed), len(batch))
	}
	return nil
}

func (s *Shipper) requeue(recs []Record) {
	if len(recs) == 0 {
		return
	}
	s.mu.Lock()
	s.queue = append(recs, s.queue...)
	s.mu.Unlock()
}

// DocID is a record's Elasticsearch _id.
func DocID(r Record) string {
	ns := r.Namespace
	if ns == "" {
		ns = "-"
	}
	return ns + "/" + strconv.FormatInt(r.Seq, 10)
}

func (s *Shipper) bulk(ctx context.Context, base string, batch []Record) ([]Record, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, r := range batch {
		_ = enc.Encode(map[string]any{"index": map[string]string{"_index": ElasticIndex, "_id": DocID(r)}})
		_ = enc.Encode(r)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_bulk", &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s/_bulk: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("POST %s/_bulk: %s: %s", base, resp.Status, bytes.TrimSpace(msg))
	}
	var reply struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int `json:"status"`
		} `json:"items"`
	}
	if err := json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&reply); err != nil {
		return nil, fmt.Errorf("reading the _bulk reply: %w", err)
	}
	if !reply.Errors {
		return nil, nil
	}
	if len(reply.Items) != len(batch) {
		return nil, fmt.Errorf("the _bulk reply has %d items for %d records", len(reply.Items), len(batch))
	}
	var failed []Record
	for i, it := range reply.Items {
		st := it["index"].Status
		switch {
		case st == http.StatusTooManyRequests || st >= 500:
			failed = append(failed, batch[i])
		case st >= 300:
			// A mapping or validation error does not heal by retrying.
			if s.Log != nil {
				s.Log.Error("elasticsearch rejected an audit record", "id", DocID(batch[i]), "status", st)
			}
		}
	}
	return failed, nil
}
