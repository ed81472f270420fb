// Package modelgw is clawd's model gateway: each tenant's OpenClaw gateway
// names clawd as its model provider, with a per-namespace token as the API
// key, and the Gateway forwards its calls to the real provider with the
// operator's key, counting the tokens the provider reports.
//
// A request is /<provider>/<rest>: OpenClaw's baseUrl is
// http://<clawd>/<provider> and its SDKs append what they append to a real
// provider's base URL, so the upstream URL is the provider's base URL plus
// <rest>. Only the one endpoint of the provider's API shape is forwarded,
// and only for the models the operator offers.
//
// Counting is on the path of every streamed event, so it is built not to
// show in the time to first token: events are relayed as the provider's
// bytes, flushed as each completes, and only the few that carry usage are
// decoded. Each call ends in one Usage to every Sink, even when the client
// left mid-stream: the gateway keeps reading the provider for a while
// (Config.Linger) so the usage at the end of the stream is not lost.
package modelgw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// Upstream is a provider as the gateway forwards to it.
type Upstream struct {
	// Name is the provider's name, the first path segment of requests.
	Name string
	API  API
	// BaseURL is as the operator gave it, e.g. https://api.openai.com/v1
	// or https://api.anthropic.com (Anthropic's SDK appends /v1/...).
	BaseURL string
	// APIKey is the provider key, plaintext in memory only; never logged.
	APIKey string
	// Models are the model ids offered to tenants.
	Models []string
}

// Providers finds an upstream by name.
type Providers interface {
	Provider(name string) (Upstream, bool)
}

// Authenticator resolves the per-namespace token a gateway presents and
// the address it came from.
type Authenticator interface {
	Authenticate(token string, remote netip.Addr) (namespace string, ok bool)
}

// Admitter decides, before a call is forwarded, whether its namespace may
// make it (quotas), reserving estimate tokens until release is called,
// which the gateway does once every Sink has the call's Usage. A refusal's
// message is the client's (a 429); when it has a RetryAfter method, that
// is the Retry-After.
type Admitter interface {
	Admit(ctx context.Context, namespace, provider, model string, estimate int64) (release func(), refusal error)
}

// retryAfter is the optional part of an Admitter's refusal.
type retryAfter interface {
	RetryAfter(now time.Time) time.Duration
}

// Config is what New needs.
type Config struct {
	Providers Providers
	Auth      Authenticator
	// Admit, when set, is asked before every call is forwarded.
	Admit Admitter
	// Sinks receive every authenticated call's Usage, in order.
	Sinks []Sink
	// Registerer gets the gateway's metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// Linger is how long to keep reading the provider after the client
	// left, to get the usage at the end of a stream (default 30s).
	Linger time.Duration
	// Transport forwards to providers; nil means DefaultTransport().
	Transport http.RoundTripper
	// Logger is the root logger (the gateway's is Named("modelgw")); nil
	// logs nothing.
	Logger hclog.Logger
}

// Gateway forwards tenants' model calls to providers and counts them.
type Gateway struct {
	providers Providers
	auth      Authenticator
	admit     Admitter
	sinks     []Sink
	metrics   *metrics // nil: none
	linger    time.Duration
	transport http.RoundTripper
	log       hclog.Logger
}

var _ http.Handler = (*Gateway)(nil)

const (
	// maxBody bounds a request: a long session with images is a few MB.
	maxBody = 32 << 20
	// maxCapture bounds how much of a whole reply is kept to read its
	// usage; beyond it the reply still passes, its counts are estimated.
	maxCapture = 32 << 20
	// estimateOutput is what a call is assumed to write, for the
	// reservation against a token quota (its input is its size / 4).
	estimateOutput = 1024
	// defaultLinger is Config.Linger's default.
	defaultLinger = 30 * time.Second
)

// New returns a Gateway for cfg.
func New(cfg Config) *Gateway {
	g := &Gateway{
		providers: cfg.Providers,
		auth:      cfg.Auth,
		admit:     cfg.Admit,
		sinks:     slices.Clone(cfg.Sinks),
		linger:    cfg.Linger,
		transport: cfg.Transport,
		log:       cfg.Logger,
	}
	if g.linger <= 0 {
		g.linger = defaultLinger
	}
	if g.transport == nil {
		g.transport = DefaultTransport()
	}
	if g.log == nil {
		g.log = hclog.NewNullLogger()
	}
	g.log = g.log.Named("modelgw")
	if cfg.Registerer != nil {
		g.metrics = newMetrics(cfg.Registerer)
	}
	return g
}

// DefaultTransport is the transport a Gateway uses unless given one: many
// idle connections per provider (every tenant calls the same few hosts),
// no overall timeout (a stream lasts as long as the model writes), but a
// bound on the wait for the response headers.
func DefaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	// A reasoning model answering without streaming may think for
	// minutes before its headers.
	t.ResponseHeaderTimeout = 5 * time.Minute
	// A session's request is tens to hundreds of KB: one write for the
	// headers and a typical body.
	t.WriteBufferSize = 64 << 10
	return t
}

// Forget drops namespace's metric series (after the namespace is deleted).
func (g *Gateway) Forget(namespace string) {
	if g.metrics != nil {
		g.metrics.forget(namespace)
	}
}

// call is one authenticated request on its way through.
type call struct {
	usage Usage
	// offered: the request named a model the provider offers, so the
	// model may be a metric label.
	offered bool
	start   time.Time
	// release frees what the Admitter reserved for the call.
	release func()
}

// ServeHTTP forwards one model call.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var (
		up    Upstream
		known bool
	)
	if name != "" {
		up, known = g.providers.Provider(name)
	}
	// The error shape is the provider's; for a provider clawd does not
	// know, the one the client's SDK most likely speaks.
	anthropic := up.API.anthropic()
	if !known {
		anthropic = looksAnthropic(r, rest)
	}

	// Authenticate before saying anything about providers or models.
	token := clientToken(r.Header, anthropic)
	if token == "" {
		writeError(w, anthropic, http.StatusUnauthorized, errAuth,
			"missing namespace token: send it as \"Authorization: Bearer <token>\" or \"x-api-key: <token>\"")
		return
	}
	ns, ok := g.auth.Authenticate(token, remoteAddr(r.RemoteAddr))
	if !ok {
		writeError(w, anthropic, http.StatusUnauthorized, errAuth, "invalid namespace token")
		return
	}

	c := &call{start: start, usage: Usage{
		ID: newID(), Time: start.UTC(), Namespace: ns, Provider: name, API: up.API,
	}}
	defer g.finish(c)

	switch {
	case !known:
		c.refuse(w, anthropic, http.StatusNotFound, errNotFound, fmt.Sprintf("no model provider %q", name))
	case !up.API.Valid():
		c.refuse(w, anthropic, http.StatusNotFound, errNotFound,
			fmt.Sprintf("provider %q speaks %q, which the model gateway does not forward", name, up.API))
	case r.Method == http.MethodPost && rest == up.API.endpoint():
		g.forward(w, r, c, up, rest)
	case r.Method == http.MethodGet && rest == up.API.modelsPath():
		writeModels(w, up)
		c.usage.Status = http.StatusOK
	default:
		c.refuse(w, anthropic, http.StatusNotFound, errNotFound,
			fmt.Sprintf("%s /%s/%s is not served: provider %q (%s) takes POST /%s/%s", r.Method, name, rest, name, up.API, name, up.API.endpoint()))
	}
}

// refuse answers the gateway's own error and notes its status.
func (c *call) refuse(w http.ResponseWriter, anthropic bool, status int, kind errKind, msg string) {
	c.usage.Status = status
	writeError(w, anthropic, status, kind, msg)
}

// forward checks a model call and relays it to up.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, c *call, up Upstream, rest string) {
	anthropic := up.API.anthropic()
	body, err := readBody(w, r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			c.refuse(w, anthropic, http.StatusRequestEntityTooLarge, errTooLarge,
				fmt.Sprintf("request body larger than %d MiB", maxBody>>20))
		} else {
			c.refuse(w, anthropic, http.StatusBadRequest, errInvalid, "reading request body: "+err.Error())
		}
		return
	}
	req, err := parseRequest(body)
	c.usage.Model, c.usage.Stream = req.model, req.stream
	if err != nil {
		c.refuse(w, anthropic, http.StatusBadRequest, errInvalid, err.Error())
		return
	}
	if !slices.Contains(up.Models, req.model) {
		c.refuse(w, anthropic, http.StatusBadRequest, errModel,
			fmt.Sprintf("model %q is not offered by provider %q; offered: %s", req.model, up.Name, strings.Join(up.Models, ", ")))
		return
	}
	c.offered = true
	if g.admit != nil {
		release, refusal := g.admit.Admit(r.Context(), c.usage.Namespace, up.Name, req.model, int64(len(body)/4)+estimateOutput)
		if refusal != nil {
			if ra, ok := refusal.(retryAfter); ok {
				if d := ra.RetryAfter(time.Now()); d > 0 {
					w.Header().Set("Retry-After", strconv.FormatInt(int64(d.Seconds()+0.999), 10))
				}
			}
			c.refuse(w, anthropic, http.StatusTooManyRequests, errQuota, refusal.Error())
			return
		}
		c.release = release
	}

	m := &meter{api: up.API}
	out := body
	if up.API == OpenAICompletions && req.stream && !req.clientUsage {
		if out, err = addStreamUsage(body, req); err != nil {
			c.refuse(w, anthropic, http.StatusBadRequest, errInvalid, err.Error())
			return
		}
		m.stripUsage = true
	}
	g.relay(w, r, c, up, rest, out, m)
	m.settle(&c.usage, body)
}

// finish ends a call: its duration, metrics, log line and sinks.
func (g *Gateway) finish(c *call) {
	u := c.usage
	u.Duration = time.Since(c.start)
	if g.metrics != nil {
		model := ""
		if c.offered {
			model = u.Model
		}
		g.metrics.observe(u.Namespace, model, u.Status, u.InputTokens, u.OutputTokens)
	}
	if g.log.IsDebug() {
		g.log.Debug("model call", "namespace", u.Namespace, "provider", u.Provider, "model", u.Model,
			"stream", u.Stream, "status", u.Status, "input_tokens", u.InputTokens, "output_tokens", u.OutputTokens,
			"estimated", u.Estimated, "duration", u.Duration, "id", u.ID)
	}
	for _, s := range g.sinks {
		s.Record(u)
	}
	if c.release != nil {
		c.release()
	}
}

// readBody reads a request body of at most maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBody {
		return nil, &http.MaxBytesError{Limit: maxBody}
	}
	size := int64(4 << 10)
	if r.ContentLength >= 0 {
		// One allocation that fits: ReadFrom stops growing on EOF.
		size = r.ContentLength + bytes.MinRead
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBody))
	return buf.Bytes(), err
}

// clientToken is the namespace token as the client's SDK sends it: OpenAI's
// as a bearer token, Anthropic's as x-api-key, either accepted for either.
func clientToken(h http.Header, anthropic bool) string {
	bearer := ""
	if a := h.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		bearer = strings.TrimSpace(a[7:])
	}
	key := h.Get("X-Api-Key")
	if anthropic && key != "" || bearer == "" {
		return key
	}
	return bearer
}

// looksAnthropic guesses the error shape for a provider clawd does not
// know from how the client called.
func looksAnthropic(r *http.Request, rest string) bool {
	return strings.HasPrefix(rest, "v1/messages") || (r.Header.Get("X-Api-Key") != "" && r.Header.Get("Authorization") == "")
}

// remoteAddr is the client's IP, or the zero Addr when the listener is not
// TCP.
func remoteAddr(s string) netip.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
