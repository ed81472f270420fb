// Package openclawcfg renders the openclaw.json clawd writes into each
// namespace's gateway from the namespace's spec and the dynamic config.
//
// OpenClaw refuses a config with a key it does not know (the gateway exits
// with code 78), so only keys checked against the pinned image are written;
// the integration test renders specs and has the real gateway validate them.
//
// Auth is OpenClaw's trusted-proxy mode: clawd's router authenticates every
// request (API key or namespace hostname) and tells the gateway who it is in
// UserHeader; the gateway trusts that header only on connections from the
// router's address on the namespace network. So no gateway token exists,
// and browsers can use the Control UI and its WebSocket without pasting one.
package openclawcfg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/namespace"
)

// FileName is the config's name in the gateway's state dir
// ($OPENCLAW_STATE_DIR/openclaw.json).
const FileName = "openclaw.json"

// UserHeader carries the identity the router authenticated: the API key's
// id, or "host:<hostname>" for a request that came by the namespace's
// hostname. The router sets it on every forwarded request and drops any a
// client sent.
const UserHeader = "X-Clawd-User"

// Options is what rendering needs besides the namespace.
type Options struct {
	// Port is the gateway's port inside its container.
	Port int
	// Proxy is the router's address on the gateway's network (the host's
	// address on that bridge, where the router's connections come from):
	// the one address a namespace's gateway trusts to say who is calling.
	// Not its own addresses, not anything else in the pool: a tool inside
	// the gateway, or anything that ever shares its network, is anonymous
	// whatever UserHeader it sends.
	Proxy netip.Addr
	// SubnetPool is the pool clawd carves every gateway network from
	// (--docker.subnetpool). Render and Spare fall back to trusting it
	// when Proxy is unknown (a runtime that cannot tell).
	//
	// A warm-pool spare trusts the router's address on its own network,
	// and the namespace that adopts it gets a network with the same subnet
	// (runtime.SpareAddresser), so the same address: OpenClaw applies
	// gateway.trustedProxies live but closes every client connection when
	// they change, which at adoption would drop the tenant's first ones.
	SubnetPool netip.Prefix
	// HTTPPort and HTTPSPort are the router's listening ports (0: that
	// listener is off). Origins get ":port" variants when they are not
	// 80 and 443.
	HTTPPort, HTTPSPort int
	// SkillsDir is where the namespace's skills volume is mounted; the
	// gateway loads skills from it.
	SkillsDir string
	// HostSkillsDir is where the gateway has the namespace's skills.path
	// (a host directory) mounted, "" when it has none.
	HostSkillsDir string
	// Models are the providers the gateway reaches through clawd's model
	// gateway; zero: none.
	Models Models
}

// Models is how a namespace's gateway reaches models: every provider
// clawd holds, each at BaseURL/<provider> with the namespace's Token as
// its API key. The provider's own key never reaches the gateway.
type Models struct {
	// BaseURL is clawd's model gateway as the gateway's container reaches
	// it, e.g. http://172.17.0.1:7071.
	BaseURL string
	// Token is the namespace's model gateway token.
	Token     string
	Providers []Provider
}

// Provider is one provider as a gateway sees it.
type Provider struct {
	Name   string
	API    string
	Models []string
}

// ProviderID is the id a clawd provider has in a gateway's openclaw.json.
// It is never one of OpenClaw's built-in provider ids ("openai",
// "anthropic", ...): those bring the built-in provider's own catalog and
// side calls (utility models the operator never offered), and every model
// a gateway sees must be one clawd offers.
func ProviderID(name string) string { return "clawd-" + name }

// Resolve turns a model as an operator names it into OpenClaw's
// "provider/model" with the provider's ProviderID: a bare model (the
// guide's "gpt-4o") names the one provider that offers it, "openai/gpt-4o"
// names both; anything else is kept as given (validation at `config set`
// refuses what no provider offers).
func (m Models) Resolve(ref string) string {
	if ref == "" {
		return ref
	}
	if name, model, ok := strings.Cut(ref, "/"); ok {
		for _, p := range m.Providers {
			if p.Name == name && slices.Contains(p.Models, model) {
				return ProviderID(name) + "/" + model
			}
		}
		return ref
	}
	found := ""
	for _, p := range m.Providers {
		if slices.Contains(p.Models, ref) {
			if found != "" {
				return ref
			}
			found = ProviderID(p.Name) + "/" + ref
		}
	}
	if found == "" {
		return ref
	}
	return found
}

// file is the subset of OpenClaw's config clawd writes; field order is the
// order in the file.
type file struct {
	Gateway gateway `json:"gateway"`
	Models  *models `json:"models,omitempty"`
	Agents  *agents `json:"agents,omitempty"`
	Skills  *skills `json:"skills,omitempty"`
}

type gateway struct {
	Mode           string     `json:"mode"`
	Bind           string     `json:"bind"`
	Port           int        `json:"port"`
	TrustedProxies []string   `json:"trustedProxies"`
	Auth           auth       `json:"auth"`
	ControlUI      *controlUI `json:"controlUi,omitempty"`
	HTTP           httpAPIs   `json:"http"`
}

type auth struct {
	Mode         string       `json:"mode"`
	TrustedProxy trustedProxy `json:"trustedProxy"`
}

type trustedProxy struct {
	UserHeader string `json:"userHeader"`
	// DeviceAutoApprove lets a device (a browser's Control UI) enroll
	// without someone approving it on the gateway host, which no tenant
	// can reach; it gets OpenClaw's default non-admin operator scopes. The
	// router has already authenticated whoever connects.
	DeviceAutoApprove enabled `json:"deviceAutoApprove"`
}

type controlUI struct {
	AllowedOrigins []string `json:"allowedOrigins"`
}

type httpAPIs struct {
	Endpoints struct {
		ChatCompletions enabled `json:"chatCompletions"`
	} `json:"endpoints"`
}

type enabled struct {
	Enabled bool `json:"enabled"`
}

type models struct {
	// Mode merge keeps OpenClaw's built-in catalogue beside clawd's
	// providers; an entry with a built-in's id overrides its base URL.
	Mode      string                    `json:"mode"`
	Providers map[string]modelsProvider `json:"providers"`
}

type modelsProvider struct {
	BaseURL string       `json:"baseUrl"`
	APIKey  string       `json:"apiKey"`
	API     string       `json:"api"`
	Models  []modelEntry `json:"models"`
}

type modelEntry struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Compat asks OpenClaw for usage in streams: it does so by default
	// only for endpoints it counts as local, and clawd's address is not.
	Compat modelCompat `json:"compat"`
}

type modelCompat struct {
	SupportsUsageInStreaming bool `json:"supportsUsageInStreaming"`
}

type agents struct {
	Defaults agentDefaults `json:"defaults"`
}

type agentDefaults struct {
	Model *model `json:"model,omitempty"`
	// MaxConcurrent and Subagents.MaxConcurrent are OpenClaw's caps on
	// agent runs at once (its main and subagent lanes): the quota
	// skills.maxConcurrent, since tools and skills run inside agent runs.
	MaxConcurrent int        `json:"maxConcurrent,omitempty"`
	Subagents     *subagents `json:"subagents,omitempty"`
}

type subagents struct {
	MaxConcurrent int `json:"maxConcurrent"`
}

type model struct {
	Primary   string   `json:"primary,omitempty"`
	Fallbacks []string `json:"fallbacks,omitempty"`
}

type skills struct {
	Load struct {
		ExtraDirs []string `json:"extraDirs"`
	} `json:"load"`
}

// Render returns the openclaw.json of namespace spec: local mode on all
// interfaces of its container, trusted-proxy auth for the router, Control
// UI origins for its hostnames, the OpenAI-compatible HTTP API on, and its
// models (namespaces.<ns>.models.primary|fallback), skills volume and
// skills directory from the host.
func Render(spec namespace.Spec, values map[string]string, opts Options) ([]byte, error) {
	if !opts.Proxy.IsValid() && !opts.SubnetPool.IsValid() {
		return nil, fmt.Errorf("rendering openclaw.json for %s: no router address to trust", spec.Name)
	}
	f := base(opts)

	if origins := Origins(spec.Hostnames, opts.HTTPPort, opts.HTTPSPort); len(origins) > 0 {
		f.Gateway.ControlUI = &controlUI{AllowedOrigins: origins}
	}
	f.Models = renderModels(opts.Models)
	primary, _ := config.Effective(values, spec.Name, "models.primary")
	fallback, _ := config.Effective(values, spec.Name, "models.fallback")
	primary, fallback = opts.Models.Resolve(primary), opts.Models.Resolve(fallback)
	if primary != "" || fallback != "" {
		f.Agents = &agents{}
		f.Agents.Defaults.Model = &model{Primary: primary}
		if fallback != "" {
			f.Agents.Defaults.Model.Fallbacks = []string{fallback}
		}
	}
	if n := maxConcurrent(spec); n > 0 {
		if f.Agents == nil {
			f.Agents = &agents{}
		}
		f.Agents.Defaults.MaxConcurrent = n
		f.Agents.Defaults.Subagents = &subagents{MaxConcurrent: n}
	}
	if opts.HostSkillsDir != "" {
		if f.Skills == nil {
			f.Skills = &skills{}
		}
		f.Skills.Load.ExtraDirs = append(f.Skills.Load.ExtraDirs, opts.HostSkillsDir)
	}
	return encode(f)
}

// maxConcurrent is spec's skills.maxConcurrent (0: none), capped where an
// int holds it.
func maxConcurrent(spec namespace.Spec) int {
	if spec.Quota == nil || spec.Quota.MaxConcurrentSkills <= 0 {
		return 0
	}
	return int(min(spec.Quota.MaxConcurrentSkills, 1<<30))
}

// Spare returns the openclaw.json of a warm-pool gateway: a namespace's
// without hostnames or models, allowing any browser origin, trusting
// opts.Proxy (the router's address on the spare's network) or, unknown,
// the subnet pool. The adopting namespace's config then narrows the
// origins to its hostnames; its hostnames work in between, and OpenClaw
// keeps its connections through that reload because the trusted proxy does
// not change (see Options.SubnetPool). No browser can reach a spare; and on
// a namespace's hostname the origin check guards nothing a client without
// a browser could not do: the router's auth does that (a key, or its login
// cookie, which is SameSite=Strict).
func Spare(opts Options) ([]byte, error) {
	if !opts.Proxy.IsValid() && !opts.SubnetPool.IsValid() {
		return nil, errors.New("rendering a spare's openclaw.json: no router address or subnet pool to trust")
	}
	f := base(opts)
	f.Gateway.ControlUI = &controlUI{AllowedOrigins: []string{"*"}}
	return encode(f)
}

func renderModels(m Models) *models {
	if m.BaseURL == "" || len(m.Providers) == 0 {
		return nil
	}
	out := &models{Mode: "merge", Providers: map[string]modelsProvider{}}
	base := strings.TrimRight(m.BaseURL, "/")
	for _, p := range m.Providers {
		mp := modelsProvider{BaseURL: base + "/" + p.Name, APIKey: m.Token, API: p.API}
		for _, id := range p.Models {
			mp.Models = append(mp.Models, modelEntry{ID: id, Name: id, Compat: modelCompat{SupportsUsageInStreaming: true}})
		}
		out.Providers[ProviderID(p.Name)] = mp
	}
	return out
}

func base(opts Options) file {
	f := file{Gateway: gateway{
		Mode:           "local",
		Bind:           "lan",
		Port:           opts.Port,
		TrustedProxies: trusted(opts),
		Auth: auth{Mode: "trusted-proxy", TrustedProxy: trustedProxy{
			UserHeader:        strings.ToLower(UserHeader),
			DeviceAutoApprove: enabled{Enabled: true},
		}},
	}}
	f.Gateway.HTTP.Endpoints.ChatCompletions.Enabled = true
	if opts.SkillsDir != "" {
		f.Skills = &skills{}
		f.Skills.Load.ExtraDirs = []string{opts.SkillsDir}
	}
	return f
}

func trusted(opts Options) []string {
	if opts.Proxy.IsValid() {
		return []string{opts.Proxy.String()}
	}
	return []string{opts.SubnetPool.Masked().String()}
}

func encode(f file) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("rendering openclaw.json: %w", err)
	}
	return buf.Bytes(), nil
}

// Origins are the browser origins the Control UI is served under for
// hostnames: http:// and https:// on the default ports, which is what a
// browser sends behind the router on 80/443 or a load balancer in front of
// it, plus the router's own ports when they are others.
func Origins(hostnames []string, httpPort, httpsPort int) []string {
	var out []string
	for _, h := range hostnames {
		out = append(out, "http://"+h, "https://"+h)
		if httpPort > 0 && httpPort != 80 {
			out = append(out, "http://"+net.JoinHostPort(h, strconv.Itoa(httpPort)))
		}
		if httpsPort > 0 && httpsPort != 443 {
			out = append(out, "https://"+net.JoinHostPort(h, strconv.Itoa(httpsPort)))
		}
	}
	return out
}
