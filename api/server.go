// Package api is clawd's admin API: JSON over HTTP under /api/v1, described
// by the OpenAPI document it serves, guarded by the admin bearer token.
package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/audit"
	"github.com/clawd-dev/clawd/billing"
	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/placement"
	"github.com/clawd-dev/clawd/problem"
	"github.com/clawd-dev/clawd/reaper"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/secrets"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/units"
	"github.com/clawd-dev/clawd/warmpool"
	"github.com/clawd-dev/clawd/zram"
)

//go:embed openapi.json
var openAPI []byte

// Store is what the API needs from the state store.
type Store interface {
	ClusterID() string
	CreateNamespace(ctx context.Context, spec namespace.Spec) error
	GetNamespace(ctx context.Context, name string) (namespace.Namespace, error)
	ListNamespaces(ctx context.Context) ([]namespace.Namespace, error)
	UpdateSpec(ctx context.Context, name string, fn func(*namespace.Spec) error) (namespace.Spec, error)
	SetConfig(ctx context.Context, key, value string) error
	GetConfig(ctx context.Context, key string) (string, error)
	ListConfig(ctx context.Context) (map[string]string, error)
	DeleteConfig(ctx context.Context, key string) error
	ListNodes(ctx context.Context) ([]store.Node, error)
}

// Usage reads a local namespace's resource usage; optional.
type Usage interface {
	Stats(ctx context.Context, namespace string) (runtime.Stats, error)
}

// Config wires the API.
type Config struct {
	Node          string
	Token         string
	RouterAddress string
	Logger        hclog.Logger
	// Metrics serves GET /metrics (see metrics.go); nil: no such route.
	Metrics http.Handler
	// MetricsPublic serves /metrics without the admin token.
	MetricsPublic bool
	// Pool reports the warm pool's fill; nil when there is no pool.
	Pool PoolStatus
	// Secrets seals provider keys; nil: no provider endpoints.
	Secrets Sealer
	// SecretKeys serves /api/v1/secrets/…; nil: those endpoints answer 409.
	SecretKeys SecretKeys
	// Usage reads today's model usage for quota-status; nil: none shown.
	Usage UsageToday
	// Ledger serves the metering reports; nil: no metering endpoints.
	Ledger Ledger
	// Metering tells status what metering does; nil: not shown.
	Metering MeteringState
	// Skills says where namespaces.<ns>.skills.path may point; the zero
	// policy allows no host directory.
	Skills config.SkillsPolicy
	// Requests reads the hour's requests for quota-status; nil: not shown.
	Requests RequestsUsed
	// Billing serves /api/v1/billing/…; nil: those endpoints answer 409.
	Billing Billing
	// Audit records every change made through the API; nil: none.
	Audit audit.Recorder
	// AuditLog serves /api/v1/audit/…; nil: those endpoints answer 409.
	AuditLog AuditLog
	// AuditFontDir holds the PDF export's font ("": audit.DefaultFontDir).
	AuditFontDir string
	// Console serves the operator console under /console/; nil: none.
	Console http.Handler
	// Storage reads and checks capped volumes for apply-quota and
	// quota-status; nil: storage caps are kept and shown, not enforced.
	Storage StorageVolumes
	// Cleanup serves POST /api/v1/namespaces/{name}/cleanup; nil: 409.
	Cleanup Cleaner
	// Resources serves the namespaces' recent CPU and memory readings;
	// nil: that endpoint answers 409.
	Resources ResourceHistory
	// Memory reports the memory budget in status; nil: not shown.
	Memory MemoryBudget
	// Zram is the Compressed tier's swap, for status; nil: not shown.
	Zram Zram
	// Placer picks the node of a new namespace (placement.Placer); nil:
	// this node (a single-node install, tests).
	Placer Placer
	// SharedVolumes: namespaces' volumes are on storage every node
	// shares (--volumes.shared), so node drain may move them.
	SharedVolumes bool
}

// PoolStatus is the warm pool as clawd status shows it.
type PoolStatus interface {
	Status() warmpool.Status
}

// Server serves the admin API.
type Server struct {
	cfg   Config
	st    Store
	usage Usage
	log   hclog.Logger
	mux   *http.ServeMux
}

// New builds the handler. usage may be nil.
func New(cfg Config, st Store, usage Usage) *Server {
	s := &Server{cfg: cfg, st: st, usage: usage, log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	s.mux.HandleFunc("GET /api/v1/openapi.json", s.openapi)
	if cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", s.metrics(cfg.Metrics))
	}
	s.handle("GET /api/v1/status", s.status)
	s.handle("GET /api/v1/nodes", s.listNodes)
	s.handle("POST /api/v1/nodes/{name}/drain", s.drainNode)
	s.handle("DELETE /api/v1/nodes/{name}/drain", s.undrainNode)
	s.handle("GET /api/v1/namespaces", s.listNamespaces)
	s.handle("POST /api/v1/namespaces", s.createNamespace)
	s.handle("GET /api/v1/namespaces/{name}", s.getNamespace)
	s.handle("DELETE /api/v1/namespaces/{name}", s.deleteNamespace)
	s.handle("POST /api/v1/namespaces/{name}/wake", s.wakeNamespace)
	s.handle("POST /api/v1/namespaces/{name}/sleep", s.sleepNamespace)
	s.handle("POST /api/v1/namespaces/{name}/cleanup", s.cleanupNamespace)
	s.handle("POST /api/v1/namespaces/{name}/apikeys", s.createAPIKey)
	s.handle("GET /api/v1/namespaces/{name}/apikeys", s.listAPIKeys)
	s.handle("DELETE /api/v1/apikeys/{id}", s.revokeAPIKey)
	s.handle("GET /api/v1/namespaces/{name}/quota-status", s.quotaStatus)
	s.handle("GET /api/v1/quota-status", s.quotaStatusAll)
	s.handle("PUT /api/v1/namespaces/{name}/quota", s.applyQuota)
	s.handle("GET /api/v1/metering/report", s.meteringReport)
	s.mux.HandleFunc("GET /api/v1/metering/export", s.meteringExport)
	s.handle("GET /api/v1/providers", s.listProviders)
	s.handle("POST /api/v1/providers", s.addProvider)
	s.handle("DELETE /api/v1/providers/{name}", s.removeProvider)
	s.handle("GET /api/v1/namespaces/{name}/auth", s.getLogin)
	s.handle("PUT /api/v1/namespaces/{name}/auth", s.configureLogin)
	s.handle("DELETE /api/v1/namespaces/{name}/auth", s.removeLogin)
	s.handle("GET /api/v1/config", s.listConfig)
	s.handle("GET /api/v1/config/{key}", s.getConfig)
	s.handle("PUT /api/v1/config/{key}", s.setConfig)
	s.handle("DELETE /api/v1/config/{key}", s.deleteConfig)
	s.routeBilling()
	s.routeAudit()
	s.routeSecrets()
	s.routeResources()
	s.mux.HandleFunc("POST /api/v1/console/session", s.signIn)
	s.mux.HandleFunc("DELETE /api/v1/console/session", s.signOut)
	if cfg.Console != nil {
		s.mux.Handle("GET /console/", cfg.Console)
		s.mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusFound))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Error(w, http.StatusNotFound, fmt.Sprintf("no such API endpoint: %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path))
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// handle registers an authenticated JSON endpoint. Handlers return a value
// to encode or an error that is mapped to a problem.
func (s *Server) handle(pattern string, fn func(*http.Request) (int, any, error)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			if s.cfg.Audit != nil && mutating(r.Method) {
				s.cfg.Audit.Record(audit.Record{Type: audit.TypeAuth, Actor: "anonymous", Action: "admin_token_refused",
					Target: pattern, Outcome: audit.OutcomeRefused})
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="clawd"`)
			problem.Error(w, http.StatusUnauthorized, "missing or wrong admin token: send 'Authorization: Bearer <token from admin.token>'")
			return
		}
		r, done := s.auditStart(pattern, r)
		code, v, err := fn(r)
		if done != nil {
			status, detail := code, ""
			if err != nil {
				status, detail = classify(err)
			}
			done(status, err, detail)
		}
		if err != nil {
			p := problem.Problem{}
			p.Status, p.Detail = classify(err)
			if p.Status >= 500 {
				// The cause may name hosts, paths or store keys: the
				// caller gets an id to quote, the log the error.
				p.RequestID = requestID()
				p.Detail += " (request id " + p.RequestID + ")"
				s.log.Error("api request failed", "request_id", p.RequestID, "method", r.Method, "path", r.URL.Path, "error", err)
			}
			problem.Write(w, p)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = writeJSON(w, v)
	})
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// authorized accepts the admin bearer token, or the console's session
// cookie under the same-origin rules of session.go.
func (s *Server) authorized(r *http.Request) bool {
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
	}
	return s.cookieAuthorized(r)
}

// conflict marks an error as a clash with what exists.
type conflict struct{ error }

func (e conflict) Unwrap() error { return e.error }

// badRequest marks an error as the caller's fault.
type badRequest struct{ error }

func (e badRequest) Unwrap() error { return e.error }

func invalid(format string, a ...any) error { return badRequest{fmt.Errorf(format, a...)} }

func classify(err error) (int, string) {
	var br badRequest
	var taken *store.HostnameTakenError
	var bi billing.InvalidError
	var se billing.StripeError
	var kse *secrets.KeySourceError
	switch {
	case errors.As(err, &br), errors.As(err, &bi), errors.Is(err, billing.ErrSignature):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, billing.ErrNotConfigured):
		return http.StatusConflict, err.Error()
	case errors.As(err, &se):
		// Stripe's own message is the operator's to read.
		return http.StatusBadGateway, err.Error()
	case errors.As(err, &kse):
		// Vault's own complaint, with what to fix.
		return http.StatusBadGateway, err.Error()
	case errors.As(err, &conflict{}):
		return http.StatusConflict, err.Error()
	case errors.As(err, &taken):
		return http.StatusConflict, err.Error()
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrNoNode):
		return http.StatusConflict, err.Error()
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "the state store did not answer in time; try again"
	}
	return http.StatusInternalServerError, "internal error"
}

// requestID is a short random id that ties a 5xx reply to its log line.
func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("invalid JSON body: %v", err)
	}
	return nil
}

// CreateRequest is the body of POST /api/v1/namespaces. Sizes and CPU
// counts are the CLI's strings ("8Gi", "0.5") so both share one parser.
type CreateRequest struct {
	Name           string   `json:"name"`
	DisplayName    string   `json:"displayName,omitempty"`
	Hostnames      []string `json:"hostnames,omitempty"`
	CPU            string   `json:"cpu,omitempty"`
	Memory         string   `json:"memory,omitempty"`
	Skills         int      `json:"skills,omitempty"`
	MinInstances   *int     `json:"minInstances,omitempty"`
	WarmupOnCreate *bool    `json:"warmupOnCreate,omitempty"`
	// Node and NodeSelector say where it may run (see placement.Request).
	Node         string            `json:"node,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
}

func (s *Server) createNamespace(r *http.Request) (int, any, error) {
	var req CreateRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	spec := namespace.Spec{
		Name:        req.Name,
		DisplayName: strings.TrimSpace(req.DisplayName),
		Hostnames:   req.Hostnames,
		MaxSkills:   req.Skills,
		Node:        s.cfg.Node,
		CreatedAt:   time.Now().UTC(),
		Warmup:      true,
	}
	if req.CPU != "" {
		m, err := units.ParseCPU(req.CPU)
		if err != nil {
			return 0, nil, invalid("--quota-cpu: %v", err)
		}
		spec.CPUMillis = m
	}
	if req.Memory != "" {
		b, err := units.ParseBytes(req.Memory)
		if err != nil {
			return 0, nil, invalid("--quota-memory: %v", err)
		}
		spec.MemoryBytes = b
	}
	if req.MinInstances != nil {
		spec.MinInstances = *req.MinInstances
	}
	if req.WarmupOnCreate != nil {
		spec.Warmup = *req.WarmupOnCreate
	} else {
		values, err := s.st.ListConfig(r.Context())
		if err != nil {
			return 0, nil, err
		}
		if v, ok := config.Effective(values, spec.Name, "warmupOnCreate"); ok {
			spec.Warmup = v == "true"
		}
	}
	if len(spec.DisplayName) > 200 {
		return 0, nil, invalid("--display-name is longer than 200 characters")
	}
	if err := spec.Validate(); err != nil {
		return 0, nil, badRequest{err}
	}
	noteAudit(r, spec.Name, spec.Name)
	if err := s.create(r.Context(), &spec, req); err != nil {
		return 0, nil, err
	}
	ns, err := s.st.GetNamespace(r.Context(), spec.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, ns, nil
}

func (s *Server) listNamespaces(r *http.Request) (int, any, error) {
	list, err := s.st.ListNamespaces(r.Context())
	if err != nil {
		return 0, nil, err
	}
	if list == nil {
		list = []namespace.Namespace{}
	}
	return http.StatusOK, list, nil
}

// NamespaceDetail is namespace get: the namespace plus its live usage when
// this node runs it.
type NamespaceDetail struct {
	namespace.Namespace
	Usage *runtime.Stats `json:"usage,omitempty"`
	// CPU is the CPU cap asked for and the one applied, when this node
	// runs the namespace and it has a cap.
	CPU *CPUCap `json:"cpu,omitempty"`
	// Memory is what the gateway holds resident and in zram now.
	Memory *NamespaceMemory `json:"memory,omitempty"`
}

// CPUCap is a gateway's CPU cap: the quota asked for more CPUs than the
// host has is clamped to the host's.
type CPUCap struct {
	RequestedMillis int64 `json:"requestedMillis"`
	AppliedMillis   int64 `json:"appliedMillis"`
	HostCPUs        int   `json:"hostCpus"`
	Clamped         bool  `json:"clamped"`
}

// HostCPUs is a runtime that knows its host's CPUs (the Docker engine's).
type HostCPUs interface {
	HostCPUs(ctx context.Context) (int, error)
}

// cpuCap is the cap applied for requested millicores on a host of cpus.
func cpuCap(requested int64, cpus int) *CPUCap {
	c := &CPUCap{RequestedMillis: requested, AppliedMillis: requested, HostCPUs: cpus}
	if host := int64(cpus) * 1000; cpus > 0 && requested > host {
		c.AppliedMillis, c.Clamped = host, true
	}
	return c
}

func (s *Server) getNamespace(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return 0, nil, badRequest{err}
	}
	ns, err := s.st.GetNamespace(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	d := NamespaceDetail{Namespace: ns}
	local := ns.Status.Node == "" || ns.Status.Node == s.cfg.Node
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if hc, ok := s.usage.(HostCPUs); ok && local && ns.Spec.CPUMillis > 0 {
		if n, err := hc.HostCPUs(ctx); err == nil {
			d.CPU = cpuCap(ns.Spec.CPUMillis, n)
		}
	}
	if s.usage != nil && ns.Status.ContainerID != "" && local {
		if st, err := s.usage.Stats(ctx, name); err == nil {
			d.Usage = &st
		}
	}
	d.Memory = s.memory(r.Context(), ns)
	return http.StatusOK, d, nil
}

func (s *Server) deleteNamespace(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return 0, nil, badRequest{err}
	}
	purge := r.URL.Query().Get("purge") == "true"
	spec, err := s.st.UpdateSpec(r.Context(), name, func(sp *namespace.Spec) error {
		sp.Deleting = true
		sp.Purge = sp.Purge || purge
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, spec, nil
}

func (s *Server) wakeNamespace(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return 0, nil, badRequest{err}
	}
	spec, err := s.st.UpdateSpec(r.Context(), name, func(sp *namespace.Spec) error {
		if sp.Deleting {
			return invalid("namespace %s is being deleted", name)
		}
		if sp.Suspended != nil {
			return conflict{fmt.Errorf("namespace %s is suspended (%s); it wakes once billing clears it", name, sp.Suspended.Reason)}
		}
		sp.WakeGeneration++
		sp.Target = ""
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, spec, nil
}

// SleepRequest is the body of POST /api/v1/namespaces/{name}/sleep.
type SleepRequest struct {
	// Target is Paused, Stopped (default) or Evicted.
	Target namespace.Phase `json:"target,omitempty"`
}

func (s *Server) sleepNamespace(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if err := namespace.ValidateName(name); err != nil {
		return 0, nil, badRequest{err}
	}
	var req SleepRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return 0, nil, err
		}
	}
	if req.Target == "" {
		req.Target = namespace.PhaseStopped
	}
	if !namespace.ValidTarget(req.Target) {
		return 0, nil, invalid("cannot sleep to %q: use Paused, Compressed, Stopped or Evicted", req.Target)
	}
	ns, err := s.st.GetNamespace(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	values, err := s.st.ListConfig(r.Context())
	if err != nil {
		return 0, nil, err
	}
	if reaper.Policy(values, ns).MinInstances >= 1 {
		return 0, nil, invalid("namespace %s has minInstances=1 and never sleeps; run 'clawd config set namespaces.%s.minInstances 0' first", name, name)
	}
	spec, err := s.st.UpdateSpec(r.Context(), name, func(sp *namespace.Spec) error {
		if sp.Deleting {
			return invalid("namespace %s is being deleted", name)
		}
		sp.Target = req.Target
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, spec, nil
}

// ConfigEntry is one dynamic configuration key as the API shows it.
type ConfigEntry struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Set         bool   `json:"set"`              // false: Value is an inherited default
	Source      string `json:"source,omitempty"` // the key the value came from
	Implemented bool   `json:"implemented"`      // false: stored, but no feature uses it yet
	Note        string `json:"note,omitempty"`
}

func entryFor(key string, k config.Key, values map[string]string, ns string) ConfigEntry {
	e := ConfigEntry{Key: key, Implemented: k.Implemented}
	if v, ok := values[key]; ok {
		e.Value, e.Set, e.Source = v, true, key
	} else if ns != "" && ns != "*" {
		leaf := strings.TrimPrefix(k.Pattern, "namespaces.*.")
		if v, ok := values["namespaces.*."+leaf]; ok {
			e.Value, e.Source = v, "namespaces.*."+leaf
		} else if k.Default != "" {
			e.Value, e.Source = k.Default, "default"
		}
	} else if k.Default != "" {
		e.Value, e.Source = k.Default, "default"
	}
	if !k.Implemented {
		e.Note = "stored; the feature that uses it is not implemented yet"
	}
	return e
}

func (s *Server) getConfig(r *http.Request) (int, any, error) {
	key := r.PathValue("key")
	k, ns, err := config.Lookup(key)
	if err != nil {
		return 0, nil, badRequest{err}
	}
	values, err := s.st.ListConfig(r.Context())
	if err != nil {
		return 0, nil, err
	}
	e := entryFor(key, k, values, ns)
	if e.Source == "" {
		return 0, nil, fmt.Errorf("config key %s is not set and has no default: %w", key, store.ErrNotFound)
	}
	return http.StatusOK, e, nil
}

// SetConfigRequest is the body of PUT /api/v1/config/{key}.
type SetConfigRequest struct {
	Value string `json:"value"`
}

func (s *Server) setConfig(r *http.Request) (int, any, error) {
	key := r.PathValue("key")
	k, ns, err := config.Lookup(key)
	if err != nil {
		return 0, nil, badRequest{err}
	}
	var req SetConfigRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	value, err := config.Normalize(key, req.Value)
	if err != nil {
		return 0, nil, badRequest{err}
	}
	if ns != "" && ns != "*" {
		if _, err := s.st.GetNamespace(r.Context(), ns); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return 0, nil, invalid("namespace %s does not exist (create it first, or use namespaces.*.%s for every namespace)", ns, strings.TrimPrefix(k.Pattern, "namespaces.*."))
			}
			return 0, nil, err
		}
	}
	if err := s.checkModel(r.Context(), k, value); err != nil {
		return 0, nil, err
	}
	if k.Leaf() == "skills.path" {
		// The supervisor checks again before every start; this tells the
		// operator now.
		if err := s.cfg.Skills.Check(value); err != nil {
			return 0, nil, invalid("invalid value for %s: %v", key, err)
		}
	}
	if err := s.st.SetConfig(r.Context(), key, value); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, entryFor(key, k, map[string]string{key: value}, ns), nil
}

func (s *Server) deleteConfig(r *http.Request) (int, any, error) {
	key := r.PathValue("key")
	if _, _, err := config.Lookup(key); err != nil {
		return 0, nil, badRequest{err}
	}
	if err := s.st.DeleteConfig(r.Context(), key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) listConfig(r *http.Request) (int, any, error) {
	values, err := s.st.ListConfig(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := []ConfigEntry{}
	for key := range values {
		k, ns, err := config.Lookup(key)
		if err != nil {
			continue // a key a newer clawd wrote; not ours to show
		}
		out = append(out, entryFor(key, k, values, ns))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return http.StatusOK, out, nil
}

// StatusReply is clawd status.
type StatusReply struct {
	Cluster       string                  `json:"cluster"`
	Node          string                  `json:"node"`
	RouterAddress string                  `json:"routerAddress"`
	Nodes         []placement.NodeSummary `json:"nodes"`
	Namespaces    int                     `json:"namespaces"`
	Phases        map[namespace.Phase]int `json:"phases"`
	// Public are the namespaces anyone who reaches their hostnames gets
	// into (auth.requireKey false).
	Public []string         `json:"public"`
	Pool   *warmpool.Status `json:"pool,omitempty"`
	// Billing is set when this server has billing.
	Billing *billing.Status `json:"billing,omitempty"`
	// Metering is what metering does on this node.
	Metering *MeteringStatus `json:"metering,omitempty"`
	// Failing are the namespaces whose gateway keeps failing: why, and
	// when clawd tries again.
	Failing []FailingNamespace `json:"failing,omitempty"`
	// Memory is this node's memory budget and what is held of it.
	Memory *MemoryStatus `json:"memory,omitempty"`
	// Zram is the Compressed tier's swap device, or why there is none.
	Zram *zram.Status `json:"zram,omitempty"`
	// Compressed are the namespaces squeezed into zram and what they hold.
	Compressed []CompressedNamespace `json:"compressed,omitempty"`
}

// FailingNamespace is one Failed namespace in clawd status.
type FailingNamespace struct {
	Name    string    `json:"name"`
	Reason  string    `json:"reason"`
	NextTry time.Time `json:"nextTry,omitzero"`
}

func (s *Server) status(r *http.Request) (int, any, error) {
	sum, list, err := s.nodeSummary(r.Context())
	if err != nil {
		return 0, nil, err
	}
	values, err := s.st.ListConfig(r.Context())
	if err != nil {
		return 0, nil, err
	}
	rep := StatusReply{Cluster: s.st.ClusterID(), Node: s.cfg.Node, RouterAddress: s.cfg.RouterAddress, Nodes: sum, Namespaces: len(list),
		Phases: map[namespace.Phase]int{}, Public: []string{}}
	for _, ns := range list {
		rep.Phases[ns.Status.Phase]++
		if ns.Status.Phase == namespace.PhaseFailed {
			rep.Failing = append(rep.Failing, FailingNamespace{Name: ns.Spec.Name, Reason: ns.Status.Reason, NextTry: ns.Status.NextTry})
		}
		if v, _ := config.Effective(values, ns.Spec.Name, "auth.requireKey"); v != "true" {
			rep.Public = append(rep.Public, ns.Spec.Name)
		}
	}
	if s.cfg.Pool != nil {
		ps := s.cfg.Pool.Status()
		rep.Pool = &ps
	}
	if s.cfg.Metering != nil {
		ms := s.cfg.Metering.MeteringStatus()
		rep.Metering = &ms
	}
	if s.cfg.Memory != nil {
		b, u := s.cfg.Memory.MemoryBudget()
		rep.Memory = &MemoryStatus{BudgetBytes: b, UsedBytes: u}
	}
	if s.cfg.Billing != nil {
		bs, err := s.cfg.Billing.Status(r.Context())
		if err != nil {
			return 0, nil, err
		}
		rep.Billing = &bs
	}
	s.zramStatus(&rep, list)
	return http.StatusOK, rep, nil
}
