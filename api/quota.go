package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/usage"
)

// ApplyQuotaRequest is the body of PUT /api/v1/namespaces/{name}/quota:
// the quota file as written (YAML), parsed by the daemon so every client
// gets the same errors.
type ApplyQuotaRequest struct {
	File string `json:"file"`
}

// applyQuota sets a namespace's quotas from the guide's quota file, all or
// nothing: the file is the whole quota (a key it leaves out is no limit).
func (s *Server) applyQuota(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return 0, nil, badRequest{err}
	}
	var req ApplyQuotaRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	f, err := quota.Parse([]byte(req.File))
	if err != nil {
		return 0, nil, badRequest{err}
	}
	if f.Namespace != name {
		return 0, nil, invalid("the quota file is for namespace %q (its namespace: key), not %q", f.Namespace, name)
	}
	if err := checkStorage(s.cfg.Storage, name, f.Limits); err != nil {
		return 0, nil, err
	}
	spec, err := setQuota(r.Context(), s.st, name, f)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, spec, nil
}

// SpecUpdater writes a namespace's spec.
type SpecUpdater interface {
	UpdateSpec(ctx context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error)
}

// setQuota makes f the whole of a namespace's quota: the one code path of
// apply-quota and of billing plans.
func setQuota(ctx context.Context, st SpecUpdater, name string, f quota.File) (namespace.Spec, error) {
	return st.UpdateSpec(ctx, name, func(sp *namespace.Spec) error {
		if sp.Deleting {
			return invalid("namespace %s is being deleted", name)
		}
		sp.CPUMillis, sp.MemoryBytes, sp.MaxSkills = f.CPUMillis, f.MemoryBytes, int(f.MaxInstalled)
		sp.Quota = nil
		if !f.Limits.IsZero() {
			l := f.Limits
			sp.Quota = &l
		}
		if err := sp.Validate(); err != nil {
			return badRequest{err}
		}
		return nil
	})
}

func maxConcurrent(spec namespace.Spec) int64 {
	if spec.Quota == nil {
		return 0
	}
	return spec.Quota.MaxConcurrentSkills
}

// QuotaApplier applies billing plans' quota files through setQuota.
type QuotaApplier struct {
	Store SpecUpdater
	// Storage, when set, refuses storage caps the volumes cannot take.
	Storage StorageVolumes
}

// ApplyQuota applies a plan's quota file to ns; the file's namespace: key
// names the plan's example tenant and is not checked.
func (q QuotaApplier) ApplyQuota(ctx context.Context, ns string, file []byte) error {
	f, err := quota.Parse(file)
	if err != nil {
		return badRequest{err}
	}
	if err := checkStorage(q.Storage, ns, f.Limits); err != nil {
		return err
	}
	_, err = setQuota(ctx, q.Store, ns, f)
	return err
}

// ClearQuota removes every quota-file limit of ns (an empty quota file).
func (q QuotaApplier) ClearQuota(ctx context.Context, ns string) error {
	_, err := setQuota(ctx, q.Store, ns, quota.File{Namespace: ns})
	return err
}

// RequestsUsed reads a namespace's requests in the UTC hour of now, every
// node's (quota.Requests).
type RequestsUsed interface {
	Used(ctx context.Context, namespace string, now time.Time) (int64, error)
	// UsedAll is Used for every namespace with requests in the hour.
	UsedAll(ctx context.Context, now time.Time) (map[string]int64, error)
}

var _ RequestsUsed = (*quota.Requests)(nil)

// QuotaStatus is clawd namespace quota-status: each quota the namespace
// has, and what it used today (UTC) by model.
type QuotaStatus struct {
	Namespace string `json:"namespace"`
	Day       string `json:"day"`
	// Quotas are keyed as in the quota file: api.tokensPerDay,
	// models.maxCallsPerDay.gpt-4o, storage.data, ...
	Quotas map[string]QuotaLine `json:"quotas"`
	Models []usage.Model        `json:"models"`
	Totals usage.Model          `json:"totals"`
}

// QuotaLine is one quota: its limit and, where clawd counts it, what was
// used in the current window and when that window ends.
type QuotaLine struct {
	Limit     int64      `json:"limit"`
	Unit      string     `json:"unit,omitempty"` // millicores, bytes; empty: a count
	Used      *int64     `json:"used,omitempty"`
	Remaining *int64     `json:"remaining,omitempty"`
	Resets    *time.Time `json:"resets,omitempty"`
	// Enforced says whether clawd enforces the quota yet; one that is not
	// is kept and shown.
	Enforced bool `json:"enforced"`
}

func (s *Server) quotaStatus(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return 0, nil, badRequest{err}
	}
	ns, err := s.st.GetNamespace(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	now := time.Now().UTC()
	var models []usage.Model
	if s.cfg.Usage != nil {
		if models, err = s.cfg.Usage.Today(r.Context(), name); err != nil {
			return 0, nil, err
		}
	}
	requests := int64(-1)
	if q := ns.Spec.Quota; q != nil && q.RequestsPerHour > 0 && s.cfg.Requests != nil {
		if requests, err = s.cfg.Requests.Used(r.Context(), name, now); err != nil {
			return 0, nil, err
		}
	}
	qs, err := s.quotaStatusOf(ns.Spec, models, requests, now)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, qs, nil
}

// quotaStatusAll is quota-status for every namespace, in one read of the
// day's and the hour's counts (the console's table polls it).
func (s *Server) quotaStatusAll(r *http.Request) (int, any, error) {
	list, err := s.st.ListNamespaces(r.Context())
	if err != nil {
		return 0, nil, err
	}
	now := time.Now().UTC()
	models := map[string][]usage.Model{}
	if s.cfg.Usage != nil {
		if models, err = s.cfg.Usage.TodayAll(r.Context()); err != nil {
			return 0, nil, err
		}
	}
	var requests map[string]int64
	if s.cfg.Requests != nil {
		if requests, err = s.cfg.Requests.UsedAll(r.Context(), now); err != nil {
			return 0, nil, err
		}
	}
	out := make([]QuotaStatus, 0, len(list))
	for _, ns := range list {
		used := int64(-1)
		if q := ns.Spec.Quota; q != nil && q.RequestsPerHour > 0 && requests != nil {
			used = requests[ns.Spec.Name]
		}
		qs, err := s.quotaStatusOf(ns.Spec, models[ns.Spec.Name], used, now)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, qs)
	}
	slices.SortFunc(out, func(a, b QuotaStatus) int { return strings.Compare(a.Namespace, b.Namespace) })
	return http.StatusOK, out, nil
}

// quotaStatusOf puts one namespace's quota status together from its spec,
// today's model usage and the hour's requests (-1: not counted).
func (s *Server) quotaStatusOf(spec namespace.Spec, models []usage.Model, requests int64, now time.Time) (QuotaStatus, error) {
	if models == nil {
		models = []usage.Model{}
	}
	qs := QuotaStatus{Namespace: spec.Name, Day: usage.DayOf(now), Models: models, Totals: usage.Total(models)}
	qs.Quotas = quotaLines(spec, models, requests, now)
	if err := storageUsed(s.cfg.Storage, spec.Name, qs.Quotas); err != nil {
		return QuotaStatus{}, err
	}
	return qs, nil
}

// quotaLines lists spec's quotas with today's model usage and the hour's
// requests (-1: not counted here).
func quotaLines(spec namespace.Spec, models []usage.Model, requests int64, now time.Time) map[string]QuotaLine {
	out := map[string]QuotaLine{}
	limit := func(key string, n int64, unit string) {
		if n > 0 {
			out[key] = QuotaLine{Limit: n, Unit: unit}
		}
	}
	counted := func(key string, n, used int64, resets time.Time) {
		if n <= 0 {
			return
		}
		rem := max(n-used, 0)
		out[key] = QuotaLine{Limit: n, Used: &used, Remaining: &rem, Resets: &resets, Enforced: true}
	}
	limit("compute.cpu", spec.CPUMillis, "millicores")
	limit("compute.memory", spec.MemoryBytes, "bytes")
	limit("skills.maxInstalled", int64(spec.MaxSkills), "")
	limit("skills.maxConcurrent", maxConcurrent(spec), "")
	// compute.*: the gateway's cgroup caps; skills.maxInstalled: counted by
	// clawd before every start; skills.maxConcurrent: the gateway's own caps
	// on agent runs at once (openclawcfg).
	for _, k := range []string{"compute.cpu", "compute.memory", "skills.maxInstalled", "skills.maxConcurrent"} {
		if l, ok := out[k]; ok {
			l.Enforced = true
			out[k] = l
		}
	}
	q := spec.Quota
	if q == nil {
		return out
	}
	limit("storage.skills", q.StorageSkills, "bytes")
	limit("storage.data", q.StorageData, "bytes")
	if requests >= 0 {
		counted(quota.RequestsPerHour, q.RequestsPerHour, requests, quota.NextHour(now))
	} else {
		limit(quota.RequestsPerHour, q.RequestsPerHour, "")
	}
	day := quota.NextDay(now)
	var tokens int64
	for _, m := range models {
		tokens += m.InputTokens + m.OutputTokens
	}
	counted(quota.TokensPerDay, q.TokensPerDay, tokens, day)
	for model, n := range q.CallsPerDay {
		key := quota.CallsPerDay + "." + model
		var calls int64
		for _, m := range models {
			if quota.Counts(key, m.Model) {
				calls += m.Calls - m.Errors
			}
		}
		counted(key, n, calls, day)
	}
	return out
}
