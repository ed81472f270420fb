// Package retention applies namespaces.<ns>.dataRetention.* and serves
// `clawd namespace cleanup`: it removes a namespace's conversations and logs
// from its data volume, and its usage rows from the ledger, once they are
// older than a cutoff. The volume is reached from the host (Volumes), so a
// sleeping namespace is cleaned without waking it; its tree is the
// tenant's, so nothing in it is followed out of the volume.
package retention

import "time"

// Kind is what a cutoff applies to.
type Kind string

// The kinds, as dataRetention names them.
const (
	Conversations Kind = "conversations"
	Logs          Kind = "logs"
	Metrics       Kind = "metrics"
)

// Kinds lists every kind in report order.
var Kinds = []Kind{Conversations, Logs, Metrics}

// Item is one thing older than the cutoff: a file (Path relative to the
// volume), a conversation in the agent database (Path "db:<agent>/<session
// key>"), or a ledger table's rows (Path "ledger:<table>", Rows set).
type Item struct {
	Path     string    `json:"path"`
	Bytes    int64     `json:"bytes"`
	Rows     int64     `json:"rows,omitempty"`
	Modified time.Time `json:"modified,omitempty"`
}

// KindReport is what a cleanup found (dry run) or removed of one kind.
type KindReport struct {
	Kind      Kind      `json:"kind"`
	OlderThan string    `json:"olderThan"`
	Cutoff    time.Time `json:"cutoff"`
	// Count is files, conversations or ledger rows; Bytes their size (for
	// ledger rows: not measured, 0).
	Count int64 `json:"count"`
	Bytes int64 `json:"bytes"`
	// Skipped counts links and special files left alone.
	Skipped int64 `json:"skipped,omitempty"`
	// Deferred says what was not looked at and why (the agent database
	// of a gateway that is running).
	Deferred  string `json:"deferred,omitempty"`
	Items     []Item `json:"items,omitempty"` // at most maxItems
	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error,omitempty"`
}

func (k *KindReport) add(it Item) {
	if it.Rows > 0 {
		k.Count += it.Rows
	} else {
		k.Count++
	}
	k.Bytes += it.Bytes
	if len(k.Items) < maxItems {
		k.Items = append(k.Items, it)
	} else {
		k.Truncated = true
	}
}

// Report is one namespace's cleanup.
type Report struct {
	Namespace string       `json:"namespace"`
	DryRun    bool         `json:"dryRun"`
	Phase     string       `json:"phase"`
	Kinds     []KindReport `json:"kinds"`
}

// Failed says whether any kind failed.
func (r *Report) Failed() bool {
	for _, k := range r.Kinds {
		if k.Error != "" {
			return true
		}
	}
	return false
}
