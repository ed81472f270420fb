package retention

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/units"
)

// Volumes finds a namespace's data volume on this host. The Docker
// runtime answers with the volume's mountpoint; a runtime that keeps
// volumes elsewhere (a loop-mounted file system) answers with its own.
type Volumes interface {
	// DataDir returns the host directory holding the namespace's state
	// dir (dataVolume: the volume recorded in its spec, "" for its own);
	// errors.Is(err, runtime.ErrNotFound) when it has none.
	DataDir(ctx context.Context, ns, dataVolume string) (string, error)
}

// Unlocker is a Volumes whose data volume may be encrypted, its key out
// of the kernel while the namespace is stopped: Unlocked runs fn with the
// volume readable (volumes.Manager.Unlocked), and no wake in between.
type Unlocker interface {
	Unlocked(ctx context.Context, ns string, fn func() error) error
}

// Ledger removes a namespace's usage rows.
type Ledger interface {
	PurgeNamespace(ctx context.Context, ns string, cutoff time.Time, dryRun bool) (ledger.PurgeResult, error)
}

// Store is where namespaces and their dataRetention settings are read.
type Store interface {
	GetNamespace(ctx context.Context, name string) (namespace.Namespace, error)
	ListNamespaces(ctx context.Context) ([]namespace.Namespace, error)
	ListConfig(ctx context.Context) (map[string]string, error)
}

// Observer hears of every cleanup (the daemon's metrics).
type Observer interface {
	Cleaned(r *Report, scheduled bool)
}

// Cleaner cleans namespaces up. Volumes, Ledger and Store are needed;
// Audit and Observer may be nil.
type Cleaner struct {
	Volumes  Volumes
	Ledger   Ledger
	Store    Store
	Audit    audit.Recorder
	Observer Observer
	Log      hclog.Logger
	Now      func() time.Time // default time.Now
	// Node is this node: the pass cleans the namespaces it runs (their
	// volumes are here) and those no node runs. "" cleans every one.
	Node string
}

// Request asks for one namespace's cleanup: each kind in OlderThan is
// cleaned of what is older than its age (a kind missing is left alone).
type Request struct {
	Namespace string
	OlderThan map[Kind]time.Duration
	DryRun    bool
	Actor     string // for the audit log: "admin-token", "system", …
	scheduled bool
}

// offline phases: no gateway process has the namespace's files open.
func offline(p namespace.Phase) bool {
	return p == namespace.PhaseStopped || p == namespace.PhaseEvicted
}

// Clean cleans one namespace up. A kind that fails says so in its report;
// the error is for a namespace that cannot be cleaned at all.
func (c *Cleaner) Clean(ctx context.Context, req Request) (*Report, error) {
	ns, err := c.Store.GetNamespace(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	rep := &Report{Namespace: ns.Spec.Name, DryRun: req.DryRun, Phase: string(ns.Status.Phase)}
	c.sweep(ctx, ns, req, now, rep)
	c.record(req, rep)
	return rep, nil
}

// sweep cleans the kinds req asks for into rep. The files of a stopped
// namespace are read with its volume unlocked when Volumes can (an
// encrypted one); a running one's volume is readable as it is.
func (c *Cleaner) sweep(ctx context.Context, ns namespace.Namespace, req Request, now time.Time, rep *Report) {
	u, ok := c.Volumes.(Unlocker)
	if !ok || !offline(ns.Status.Phase) || !wantsFiles(req) {
		c.sweepKinds(ctx, ns, req, now, rep, nil)
		return
	}
	ran := false
	err := u.Unlocked(ctx, ns.Spec.Name, func() error {
		ran = true
		c.sweepKinds(ctx, ns, req, now, rep, nil)
		return nil
	})
	switch {
	case !ran:
		// It could not be unlocked: each file kind says why.
		c.sweepKinds(ctx, ns, req, now, rep, err)
	case err != nil && c.Log != nil:
		c.Log.Warn("cleanup: locking the data volume again", "namespace", ns.Spec.Name, "error", err)
	}
}

// wantsFiles says req cleans a kind kept in files.
func wantsFiles(req Request) bool {
	for k := range req.OlderThan {
		if k != Metrics {
			return true
		}
	}
	return false
}

// sweepKinds cleans each kind; rootErr, when set, is why the volume
// cannot be read.
func (c *Cleaner) sweepKinds(ctx context.Context, ns namespace.Namespace, req Request, now time.Time, rep *Report, rootErr error) {
	var root *os.Root
	for _, kind := range Kinds {
		age, ok := req.OlderThan[kind]
		if !ok {
			continue
		}
		kr := KindReport{Kind: kind, OlderThan: units.FormatDuration(age), Cutoff: now.Add(-age).UTC().Truncate(time.Millisecond)}
		var err error
		switch kind {
		case Metrics:
			var res ledger.PurgeResult
			res, err = c.Ledger.PurgeNamespace(ctx, ns.Spec.Name, kr.Cutoff, req.DryRun)
			for _, t := range []struct {
				name string
				n    int64
			}{{"events", res.Events}, {"rollup_hourly", res.Hourly}, {"rollup_daily", res.Daily}} {
				if t.n > 0 {
					kr.add(Item{Path: "ledger:" + t.name, Rows: t.n})
				}
			}
		default:
			if root == nil && rootErr == nil {
				root, rootErr = c.openVolume(ctx, ns)
				if root != nil {
					defer root.Close()
				}
			}
			switch {
			case errors.Is(rootErr, runtime.ErrNotFound):
				kr.Deferred = "the namespace has no data volume"
			case rootErr != nil:
				err = rootErr
			default:
				err = sweepFiles(root, kind, kr.Cutoff, req.DryRun, &kr)
				if err == nil && kind == Conversations {
					if offline(ns.Status.Phase) {
						err = sweepAgentDBs(ctx, root, kr.Cutoff, req.DryRun, &kr)
					} else {
						kr.Deferred = fmt.Sprintf("the agent database is left to a pass while the namespace is stopped (it is %s: its gateway has the database open)", ns.Status.Phase)
					}
				}
			}
		}
		if err != nil {
			kr.Error = err.Error()
		}
		rep.Kinds = append(rep.Kinds, kr)
	}
}

func (c *Cleaner) openVolume(ctx context.Context, ns namespace.Namespace) (*os.Root, error) {
	dir, err := c.Volumes.DataDir(ctx, ns.Spec.Name, ns.Spec.DataVolume)
	if err != nil {
		return nil, err
	}
	return os.OpenRoot(dir)
}

// record audits and logs a cleanup and tells the observer.
func (c *Cleaner) record(req Request, rep *Report) {
	var parts []string
	for _, k := range rep.Kinds {
		s := fmt.Sprintf("%s older than %s: %d (%d bytes)", k.Kind, k.OlderThan, k.Count, k.Bytes)
		if k.Error != "" {
			s += " error: " + k.Error
		}
		parts = append(parts, s)
	}
	if c.Observer != nil {
		c.Observer.Cleaned(rep, req.scheduled)
	}
	if c.Log != nil {
		c.Log.Info("namespace cleanup", "namespace", rep.Namespace, "dry_run", rep.DryRun, "scheduled", req.scheduled, "result", strings.Join(parts, "; "))
	}
	if c.Audit == nil || rep.DryRun {
		return
	}
	outcome := audit.OutcomeSuccess
	if rep.Failed() {
		outcome = audit.OutcomeFailure
	}
	action := "cleanup"
	if req.scheduled {
		action = "retention"
	}
	c.Audit.Record(audit.Record{Namespace: rep.Namespace, Type: audit.TypeRetention, Actor: req.Actor, Action: action,
		Outcome: outcome, Detail: strings.Join(parts, "; ")})
}

// Configured returns the ages namespaces.<ns>.dataRetention.* set for ns
// (a kind unset or unparsable is left out).
func Configured(values map[string]string, ns string) map[Kind]time.Duration {
	out := map[Kind]time.Duration{}
	for _, k := range Kinds {
		v, _ := config.Effective(values, ns, "dataRetention."+string(k))
		if v == "" {
			continue
		}
		if d, err := units.ParseDuration(v); err == nil {
			out[k] = d
		}
	}
	return out
}

// Pass applies every namespace's configured retention once.
func (c *Cleaner) Pass(ctx context.Context) error {
	values, err := c.Store.ListConfig(ctx)
	if err != nil {
		return err
	}
	list, err := c.Store.ListNamespaces(ctx)
	if err != nil {
		return err
	}
	for _, ns := range list {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ages := Configured(values, ns.Spec.Name)
		if len(ages) == 0 || ns.Status.Phase == namespace.PhaseDeleting || (c.Node != "" && ns.Status.Node != "" && ns.Status.Node != c.Node) {
			continue
		}
		if _, err := c.Clean(ctx, Request{Namespace: ns.Spec.Name, OlderThan: ages, Actor: "system", scheduled: true}); err != nil && c.Log != nil {
			c.Log.Warn("retention pass", "namespace", ns.Spec.Name, "error", err)
		}
	}
	return nil
}

// Run makes a pass after first, then every interval, until ctx ends.
func (c *Cleaner) Run(ctx context.Context, first, interval time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.Pass(ctx); err != nil && ctx.Err() == nil && c.Log != nil {
			c.Log.Error("retention pass failed", "error", err)
		}
		t.Reset(interval)
	}
}
