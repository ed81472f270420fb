package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clawd-dev/clawd/api"
	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/metering"
	"github.com/clawd-dev/clawd/modelgw"
	"github.com/clawd-dev/clawd/units"
)

// meters is the metering part of `clawd up`: the ledger, its batching
// writer, the meter every usage source feeds, and the retention sweep.
type meters struct {
	ledger *ledger.Ledger
	writer *ledger.Writer
	meter  *metering.Meter
	log    hclog.Logger

	retention chan time.Duration
	current   atomic.Int64 // metering.retention in effect, a time.Duration
	done      chan struct{}
	cancel    context.CancelFunc
}

// defaultRetention is metering.retention's default (config/keys.go).
const defaultRetention = 90 * 24 * time.Hour

// newMeters opens the ledger (SQLite in the data dir, or --ledger.dsn), so
// a database that cannot be reached fails `clawd up` at once.
func newMeters(ctx context.Context, cfg *config.Static, reg prometheus.Registerer, log hclog.Logger) (*meters, error) {
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := ledger.Open(openCtx, ledger.Options{DSN: cfg.Ledger.DSN, Dir: cfg.DataDir, Logger: log.Named("ledger")})
	if err != nil {
		return nil, fmt.Errorf("opening the usage ledger: %w (check --ledger.dsn, or the data dir for SQLite)", err)
	}
	w := ledger.NewWriter(l, ledger.WriterOptions{FlushEvery: time.Duration(cfg.Ledger.FlushInterval), Logger: log.Named("ledger")})
	m := &meters{
		ledger: l, writer: w, log: log.Named("metering"),
		meter:     metering.New(metering.Config{Node: cfg.Node.Name, Sink: w, Registerer: reg, Logger: log.Named("metering")}),
		retention: make(chan time.Duration, 1),
		done:      make(chan struct{}),
	}
	m.current.Store(int64(defaultRetention))
	log.Info("usage ledger open", "backend", l.Backend(), "flush_every", time.Duration(cfg.Ledger.FlushInterval))
	return m, nil
}

// run writes events and sweeps old ones until ctx ends; then the writer
// flushes what is queued (wait).
func (m *meters) run(ctx context.Context, cw interface {
	WatchConfig(ctx context.Context) <-chan map[string]string
}) {
	ctx, m.cancel = context.WithCancel(ctx)
	go func() { m.writer.Run(ctx); close(m.done) }()
	go m.meter.Run(ctx)
	go m.watch(ctx, cw.WatchConfig(ctx))
	go m.sweep(ctx)
}

// wait stops metering, waits for the writer's last flush and closes the
// ledger.
func (m *meters) wait() {
	if m.cancel != nil {
		m.cancel()
		<-m.done
	}
	if err := m.ledger.Close(); err != nil {
		m.log.Warn("closing the usage ledger", "error", err)
	}
}

// watch applies metering.enabled, metering.backend and metering.retention.
func (m *meters) watch(ctx context.Context, ch <-chan map[string]string) {
	for {
		select {
		case <-ctx.Done():
			return
		case values, ok := <-ch:
			if !ok {
				return
			}
			enabled, _ := config.Effective(values, "", "metering.enabled")
			backend, _ := config.Effective(values, "", "metering.backend")
			m.meter.Configure(enabled != "false", backend)
			r := defaultRetention
			if v, _ := config.Effective(values, "", "metering.retention"); v != "" {
				if d, err := units.ParseDuration(v); err == nil && d > 0 {
					r = d
				}
			}
			select {
			case m.retention <- r:
			default:
				<-m.retention
				m.retention <- r
			}
		}
	}
}

// sweep drops raw events older than metering.retention, by whole days,
// once an hour and whenever the retention changes. Roll-ups stay.
func (m *meters) sweep(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-m.retention:
			if m.current.Swap(int64(r)) == int64(r) {
				continue
			}
		case <-t.C:
		}
		m.retain(ctx, time.Now())
	}
}

func (m *meters) retain(ctx context.Context, now time.Time) {
	keep := time.Duration(m.current.Load())
	res, err := m.ledger.Retain(ctx, now.Add(-keep))
	if err != nil {
		m.log.Warn("dropping usage events past metering.retention", "error", err)
		return
	}
	m.log.Debug("usage events past retention dropped", "retention", units.FormatDuration(keep), "result", fmt.Sprintf("%+v", res))
}

// MeteringStatus is what clawd status shows of metering.
func (m *meters) MeteringStatus() api.MeteringStatus {
	s := m.writer.Stats()
	return api.MeteringStatus{
		Backend: m.meter.Backend(), Ledger: m.ledger.Backend(), Retention: units.FormatDuration(time.Duration(m.current.Load())),
		Queued: int64(s.Queued), Written: s.Written, Dropped: s.Dropped, Failures: s.Failures, LastFlush: s.LastFlush,
	}
}

// modelSink records each model call that did work: a refused or failed
// call the provider charged nothing for is not usage.
type modelSink struct{ m *metering.Meter }

func (s modelSink) Record(u modelgw.Usage) {
	if u.Namespace == "" || (u.Status >= 400 && u.InputTokens == 0 && u.OutputTokens == 0) || u.Status == 0 {
		return
	}
	model := u.Model
	if u.Provider != "" && model != "" {
		model = u.Provider + "/" + u.Model
	}
	s.m.Add(ledger.Event{
		ID: "m/" + u.ID, Time: u.Time, Namespace: u.Namespace, Model: model,
		Calls: 1, InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, SkillsExecuted: u.ToolCalls,
	})
}
