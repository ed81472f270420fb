package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/problem"
	"github.com/clawd-dev/clawd/store"
)

// AuditLog serves /api/v1/audit/…: the records and their verification.
type AuditLog interface {
	Query(ctx context.Context, q audit.Query) ([]audit.Record, error)
	Last(ctx context.Context, ns string) (store.AuditHead, error)
	Verify(ctx context.Context, ns string) (audit.Verification, error)
}

// adminActor is who a request with the admin token is; console users and
// OIDC principals will have their own.
const adminActor = "admin-token"

func (s *Server) routeAudit() {
	s.handle("GET /api/v1/audit/records", s.auditRecords)
	s.handle("GET /api/v1/audit/verify", s.auditVerify)
	s.mux.HandleFunc("GET /api/v1/audit/export", s.auditExport)
}

// auditNote lets a handler tell the audit wrapper what it touched when the
// path does not say (the namespace of a revoked key, a created key's id).
type auditNote struct {
	ns     *string
	target string
}

type auditNoteKey struct{}

// noteAudit records the namespace (and target) of the request's change.
func noteAudit(r *http.Request, ns, target string) {
	if n, ok := r.Context().Value(auditNoteKey{}).(*auditNote); ok {
		n.ns, n.target = &ns, target
	}
}

func mutating(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodDelete || method == http.MethodPatch
}

// auditType is the event type of a change by its route.
func auditType(pattern string) string {
	switch {
	case strings.Contains(pattern, "/config/"):
		return audit.TypeConfigChange
	case strings.HasSuffix(pattern, "/quota"):
		return audit.TypeQuota
	case strings.Contains(pattern, "apikeys"):
		return audit.TypeAPIKey
	case strings.Contains(pattern, "/billing/"):
		return audit.TypeBilling
	case strings.Contains(pattern, "/namespaces"):
		return audit.TypeNamespace
	}
	return audit.TypeAdmin
}

// auditStart reads what a change is about and its state before; the
// returned func records the change once the handler is done.
func (s *Server) auditStart(pattern string, r *http.Request) (*http.Request, func(code int, err error, detail string)) {
	if s.cfg.Audit == nil || !mutating(r.Method) {
		return r, nil
	}
	rec := audit.Record{Type: auditType(pattern), Actor: adminActor, Action: pattern}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		rec.Actor = "console" // signed in to the operator console (a session cookie)
	}
	if name := r.PathValue("name"); name != "" && namespace.ValidateName(name) == nil {
		rec.Namespace, rec.Target = name, name
	}
	var snapshot func(context.Context) string
	switch rec.Type {
	case audit.TypeConfigChange:
		key := r.PathValue("key")
		rec.Target = key
		if _, ns, err := config.Lookup(key); err == nil {
			if ns != "*" {
				rec.Namespace = ns
			}
			snapshot = func(ctx context.Context) string {
				v, err := s.st.GetConfig(ctx, key)
				if err != nil {
					return ""
				}
				return v
			}
		}
	case audit.TypeQuota:
		if rec.Namespace != "" {
			snapshot = func(ctx context.Context) string {
				ns, err := s.st.GetNamespace(ctx, rec.Namespace)
				if err != nil {
					return ""
				}
				return quotaSnapshot(ns.Spec)
			}
		}
	}
	if strings.HasPrefix(pattern, "POST /api/v1/secrets/") {
		snapshot = s.secretsSnapshot
	}
	if snapshot != nil {
		rec.Before = snapshot(r.Context())
	}
	note := &auditNote{}
	r = r.WithContext(context.WithValue(r.Context(), auditNoteKey{}, note))
	return r, func(code int, err error, detail string) {
		if note.ns != nil {
			rec.Namespace = *note.ns
		}
		if note.target != "" {
			rec.Target = note.target
		}
		switch {
		case err == nil:
			rec.Outcome = audit.OutcomeSuccess
			if snapshot != nil {
				rec.After = snapshot(r.Context())
			}
		case code < 500:
			rec.Outcome, rec.Detail = audit.OutcomeRefused, detail
		default:
			rec.Outcome, rec.Detail = audit.OutcomeFailure, detail
		}
		if rec.Outcome != audit.OutcomeSuccess {
			rec.After = ""
		}
		s.cfg.Audit.Record(rec)
	}
}

// quotaSnapshot is the part of a spec apply-quota writes, as JSON.
func quotaSnapshot(sp namespace.Spec) string {
	b, _ := json.Marshal(struct {
		CPUMillis   int64 `json:"cpuMillis"`
		MemoryBytes int64 `json:"memoryBytes"`
		MaxSkills   int   `json:"maxSkills"`
		Limits      any   `json:"limits,omitempty"`
	}{sp.CPUMillis, sp.MemoryBytes, sp.MaxSkills, sp.Quota})
	return string(b)
}

func (s *Server) auditLog() (AuditLog, error) {
	if s.cfg.AuditLog == nil {
		return nil, conflict{errors.New("this clawd keeps no audit log (it has no ledger)")}
	}
	return s.cfg.AuditLog, nil
}

// auditNamespace reads ?namespace=: a namespace, or "" for the cluster-wide chain.
func auditNamespace(r *http.Request) (string, error) {
	ns := r.URL.Query().Get("namespace")
	if ns != "" {
		if err := namespace.ValidateName(ns); err != nil {
			return "", badRequest{err}
		}
	}
	return ns, nil
}

func (s *Server) auditRecords(r *http.Request) (int, any, error) {
	g, err := s.auditLog()
	if err != nil {
		return 0, nil, err
	}
	ns, err := auditNamespace(r)
	if err != nil {
		return 0, nil, err
	}
	p := r.URL.Query()
	q, err := audit.ParseQuery(ns, p.Get("start"), p.Get("end"), p.Get("type"))
	if err != nil {
		return 0, nil, badRequest{err}
	}
	if l := p.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 0 {
			return 0, nil, invalid("limit %q is not a count", l)
		}
	}
	switch p.Get("order") {
	case "", "asc":
	case "desc":
		q.NewestFirst = true
	default:
		return 0, nil, invalid("order %q is not asc or desc", p.Get("order"))
	}
	recs, err := g.Query(r.Context(), q)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, recs, nil
}

func (s *Server) auditVerify(r *http.Request) (int, any, error) {
	g, err := s.auditLog()
	if err != nil {
		return 0, nil, err
	}
	ns, err := auditNamespace(r)
	if err != nil {
		return 0, nil, err
	}
	v, err := g.Verify(r.Context(), ns)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clawd"`)
		problem.Error(w, http.StatusUnauthorized, "missing or wrong admin token: send 'Authorization: Bearer <token from admin.token>'")
		return
	}
	fail := func(err error) {
		code, detail := classify(err)
		problem.Error(w, code, detail)
	}
	g, err := s.auditLog()
	if err != nil {
		fail(err)
		return
	}
	ns, err := auditNamespace(r)
	if err != nil {
		fail(err)
		return
	}
	p := r.URL.Query()
	start, end, err := ledger.ParsePeriod(p.Get("period"))
	if err != nil {
		fail(badRequest{err})
		return
	}
	format := p.Get("format")
	if format == "" {
		format = audit.FormatJSON
	}
	if format != audit.FormatJSON && format != audit.FormatCSV && format != audit.FormatPDF {
		fail(invalid("unknown format %q: want pdf, json or csv", format))
		return
	}
	rep := audit.Report{Namespace: ns, Start: start, End: end}
	if ns != "" {
		if n, err := s.st.GetNamespace(r.Context(), ns); err == nil {
			rep.DisplayName = n.Spec.DisplayName
		}
	}
	if rep.Head, err = g.Last(r.Context(), ns); err != nil {
		fail(err)
		return
	}
	if rep.Records, err = g.Query(r.Context(), audit.Query{Namespace: ns, Start: start, End: end}); err != nil {
		fail(err)
		return
	}
	var buf bytes.Buffer
	if err := audit.Export(&buf, format, rep, s.cfg.AuditFontDir); err != nil {
		if errors.Is(err, audit.ErrNoFont) {
			problem.Error(w, http.StatusNotImplemented, err.Error())
			return
		}
		fail(err)
		return
	}
	types := map[string]string{audit.FormatJSON: "application/json", audit.FormatCSV: "text/csv; charset=utf-8", audit.FormatPDF: "application/pdf"}
	name := ns
	if name == "" {
		name = "cluster"
	}
	w.Header().Set("Content-Type", types[format])
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-%s-%s.%s"`, name, p.Get("period"), format))
	_, _ = w.Write(buf.Bytes())
}
