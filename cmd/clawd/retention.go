package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/retention"
	"github.com/clawd-dev/clawd/volumes"
)

// retentionMetrics counts cleanups and what they removed, for /metrics.
type retentionMetrics struct {
	runs    *prometheus.CounterVec
	removed *prometheus.CounterVec
	bytes   *prometheus.CounterVec
	errors  *prometheus.CounterVec
}

func newRetentionMetrics(reg prometheus.Registerer) *retentionMetrics {
	m := &retentionMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawd_retention_cleanups_total",
			Help: "Namespace cleanups done, by trigger (schedule: the retention pass; request: clawd namespace cleanup) and dry_run."}, []string{"trigger", "dry_run"}),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawd_retention_removed_total",
			Help: "Items removed by cleanups: files and agent-database conversations (conversations, logs), ledger rows (metrics)."}, []string{"kind"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawd_retention_removed_bytes_total",
			Help: "Bytes of the files and transcript events cleanups removed."}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "clawd_retention_errors_total",
			Help: "Kinds a cleanup could not clean."}, []string{"kind"}),
	}
	reg.MustRegister(m.runs, m.removed, m.bytes, m.errors)
	return m
}

func (m *retentionMetrics) Cleaned(r *retention.Report, scheduled bool) {
	trigger := "request"
	if scheduled {
		trigger = "schedule"
	}
	dry := "false"
	if r.DryRun {
		dry = "true"
	}
	m.runs.WithLabelValues(trigger, dry).Inc()
	for _, k := range r.Kinds {
		if k.Error != "" {
			m.errors.WithLabelValues(string(k.Kind)).Inc()
		}
		if !r.DryRun {
			m.removed.WithLabelValues(string(k.Kind)).Add(float64(k.Count))
			m.bytes.WithLabelValues(string(k.Kind)).Add(float64(k.Bytes))
		}
	}
}

// newCleaner is the retention part of `clawd up`: on-demand cleanups for
// the admin API and the periodic pass (run it with cleaner.Run).
func newCleaner(node string, vols retention.Volumes, l retention.Ledger, st retention.Store, rec audit.Recorder, reg prometheus.Registerer, log hclog.Logger) *retention.Cleaner {
	return &retention.Cleaner{Node: node, Volumes: vols, Ledger: l, Store: st, Audit: rec, Observer: newRetentionMetrics(reg), Log: log}
}

// dataDirs finds a namespace's files for the retention pass: on its own
// filesystem when it has a capped or encrypted volume (mounted while
// clawd runs it; an encrypted one is readable only while its key is in
// the kernel), else in its Docker volume.
type dataDirs struct {
	docker retention.Volumes
	vols   *volumes.Manager
}

func (d dataDirs) DataDir(ctx context.Context, ns, dataVolume string) (string, error) {
	if root, _ := d.vols.Binds(ns, volumes.Want{}); root != "" {
		if _, err := os.Stat(root); err != nil {
			return "", fmt.Errorf("namespace %s's data volume is not mounted (clawd mounts it when the gateway starts): %w", ns, err)
		}
		locked, err := d.vols.Locked(ns)
		if err != nil {
			return "", fmt.Errorf("namespace %s's data volume: %w", ns, err)
		}
		if locked {
			return "", fmt.Errorf("namespace %s's data volume is encrypted and its key is out of the kernel while the gateway is stopped, so its files cannot be read from the host (and it could not be unlocked for the cleanup)", ns)
		}
		return root, nil
	}
	return d.docker.DataDir(ctx, ns, dataVolume)
}

// Unlocked runs fn with namespace ns's data volume readable: an
// encrypted one's key is in the kernel for the duration (retention.Unlocker).
func (d dataDirs) Unlocked(ctx context.Context, ns string, fn func() error) error {
	return d.vols.Unlocked(ctx, ns, fn)
}
