package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The model APIs OpenClaw speaks to custom providers (models.providers.*.api).
const (
	apiOpenAICompletions = "openai-completions"
	apiOpenAIResponses   = "openai-responses"
	apiAnthropicMessages = "anthropic-messages"
)

const (
	anthropicVersion   = "2023-06-01"
	anthropicMaxTokens = 1024
	// errorBodyLimit bounds how much of a provider's error body reaches the
	// client's error message.
	errorBodyLimit = 512
)

// providerConfig is one entry of models.providers in openclaw.json. Fields
// the stand-in has no use for (contextWindow, cost, headers, ...) are
// ignored, as the real config may carry them.
type providerConfig struct {
	BaseURL string          `json:"baseUrl"`
	APIKey  configSecret    `json:"apiKey"`
	API     string          `json:"api"`
	Models  []providerModel `json:"models"`
}

// providerModel is one entry of a provider's models list.
type providerModel struct {
	ID string `json:"id"`
	// API overrides the provider's api for this model, as OpenClaw allows.
	API    string `json:"api"`
	Compat struct {
		SupportsUsageInStreaming bool `json:"supportsUsageInStreaming"`
	} `json:"compat"`
}

// configSecret is an apiKey: a plain string, or a SecretRef object of which
// the stand-in resolves only {"source":"env","id":NAME}. Any other shape is
// an empty key rather than an error, so that it cannot make the rest of the
// config (the gateway's auth) unreadable.
type configSecret string

func (s *configSecret) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) == nil {
		*s = configSecret(str)
		return nil
	}
	var ref struct{ Source, ID string }
	if json.Unmarshal(b, &ref) == nil && ref.Source == "env" {
		*s = configSecret(os.Getenv(ref.ID))
	}
	return nil
}

// upstream is one model to call: a provider/model reference resolved
// against models.providers.
type upstream struct {
	ref          string // as written in the config: "openai/gpt-4o"
	provider     string
	model        string
	api          string
	baseURL      string
	apiKey       string
	includeUsage bool
}

// resolve finds the provider and model a reference names. A reference
// without a provider ("gpt-4o") names the first provider, by name, that
// lists the model.
func (c openclawConfig) resolve(ref string) (upstream, error) {
	provider, model, ok := strings.Cut(ref, "/")
	if !ok {
		model, provider = ref, ""
		names := make([]string, 0, len(c.Models.Providers))
		for name := range c.Models.Providers {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if slices.ContainsFunc(c.Models.Providers[name].Models, func(m providerModel) bool { return m.ID == model }) {
				provider = name
				break
			}
		}
		if provider == "" {
			return upstream{}, fmt.Errorf("model %q: no provider in models.providers lists it", ref)
		}
	}
	p, ok := c.Models.Providers[provider]
	if !ok {
		return upstream{}, fmt.Errorf("model %q: provider %q is not in models.providers", ref, provider)
	}
	u := upstream{
		ref: ref, provider: provider, model: model, api: p.API,
		baseURL: strings.TrimRight(p.BaseURL, "/"), apiKey: string(p.APIKey),
	}
	if i := slices.IndexFunc(p.Models, func(m providerModel) bool { return m.ID == model }); i >= 0 {
		m := p.Models[i]
		u.includeUsage = m.Compat.SupportsUsageInStreaming
		if m.API != "" {
			u.api = m.API
		}
	}
	if u.api == "" {
		u.api = apiOpenAICompletions
	}
	if u.baseURL == "" {
		return upstream{}, fmt.Errorf("model %q: provider %q has no baseUrl", ref, provider)
	}
	return u, nil
}

// upstreamError is a provider that could not be reached (status 0) or
// answered with an error status.
type upstreamError struct {
	ref, provider string
	status        int
	body          string
	err           error
}

func (e *upstreamError) Error() string {
	if e.status == 0 {
		return fmt.Sprintf("provider %q (%s) unreachable: %v", e.provider, e.ref, e.err)
	}
	return fmt.Sprintf("provider %q (%s) answered %d %s: %s", e.provider, e.ref, e.status, http.StatusText(e.status), e.body)
}

// retryable reports whether OpenClaw would move on to the next fallback.
func (e *upstreamError) retryable() bool { return e.status == 0 || e.status >= 500 }

// newUpstreamClient returns the client for provider calls. No proxy from the
// environment (Node's fetch uses none either) and no overall timeout, since
// a streamed reply may take minutes; the request's context ends it.
func newUpstreamClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
	}}
}

// call starts a streamed call to u and returns the response once the
// provider has answered 200; any other outcome is an *upstreamError, or
// the context's error when the client left.
func (g *gateway) call(ctx context.Context, u upstream, req chatRequest) (*http.Response, error) {
	path, body, err := upstreamBody(u, req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, &upstreamError{ref: u.ref, provider: u.provider, err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	switch u.api {
	case apiAnthropicMessages:
		hreq.Header.Set("anthropic-version", anthropicVersion)
		if u.apiKey != "" {
			hreq.Header.Set("x-api-key", u.apiKey)
		}
	default:
		if u.apiKey != "" {
			hreq.Header.Set("Authorization", "Bearer "+u.apiKey)
		}
	}
	resp, err := g.upstream.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &upstreamError{ref: u.ref, provider: u.provider, err: err}
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4*errorBodyLimit))
		return nil, &upstreamError{ref: u.ref, provider: u.provider, status: resp.StatusCode, body: truncate(strings.TrimSpace(string(raw)), errorBodyLimit)}
	}
	return resp, nil
}

// upstreamBody is the path under the provider's baseUrl and the streamed
// request body OpenClaw sends for u's API.
func upstreamBody(u upstream, req chatRequest) (string, []byte, error) {
	var path string
	var body map[string]any
	switch u.api {
	case apiOpenAICompletions:
		path = "/chat/completions"
		body = map[string]any{"model": u.model, "messages": req.RawMessages, "stream": true}
		if u.includeUsage {
			body["stream_options"] = map[string]any{"include_usage": true}
		}
	case apiOpenAIResponses:
		path = "/responses"
		body = map[string]any{"model": u.model, "input": req.RawMessages, "stream": true}
	case apiAnthropicMessages:
		path = "/v1/messages"
		var system []string
		msgs := []map[string]any{}
		for _, m := range req.Messages {
			switch m.Role {
			case "system", "developer":
				system = append(system, messageText(m.Content))
			case "user", "assistant":
				msgs = append(msgs, map[string]any{"role": m.Role, "content": messageText(m.Content)})
			}
		}
		body = map[string]any{"model": u.model, "max_tokens": anthropicMaxTokens, "messages": msgs, "stream": true}
		if len(system) > 0 {
			body["system"] = strings.Join(system, "\n\n")
		}
	default:
		return "", nil, &upstreamError{ref: u.ref, provider: u.provider,
			err: fmt.Errorf("api %q is not one the stand-in speaks (%s, %s, %s)", u.api, apiOpenAICompletions, apiOpenAIResponses, apiAnthropicMessages)}
	}
	b, err := json.Marshal(body)
	return path, b, err
}

// providerCompletion answers a chat completion from the configured models:
// the first in chain that answers, moving on only when one is unreachable
// or fails with a 5xx, as OpenClaw's model fallback does.
func (g *gateway) providerCompletion(w http.ResponseWriter, r *http.Request, req chatRequest, cfg openclawConfig, chain []string) {
	var failures []string
	for _, ref := range chain {
		u, err := cfg.resolve(ref)
		if err != nil {
			g.log.Printf("chat: %v; trying the next model", err)
			failures = append(failures, err.Error())
			continue
		}
		resp, err := g.call(r.Context(), u, req)
		if r.Context().Err() != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return // the client left; nobody to answer
		}
		var ue *upstreamError
		if errors.As(err, &ue) {
			g.log.Printf("chat: %v", ue)
			failures = append(failures, ue.Error())
			if ue.retryable() {
				continue
			}
			break
		}
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", ref, err))
			continue
		}
		g.log.Printf("chat: %s via %s (%s)", ref, u.baseURL, u.api)
		g.relay(w, r, req, u, resp.Body)
		resp.Body.Close()
		return
	}
	msg := failures[0]
	if len(failures) > 1 {
		msg = fmt.Sprintf("all models failed (%d): %s", len(failures), strings.Join(failures, " | "))
	}
	writeJSON(w, http.StatusBadGateway, openAIError("upstream_error", msg))
}

// relay turns the provider's stream into the client's answer: chunks as
// they arrive when the client streams, else one chat.completion.
func (g *gateway) relay(w http.ResponseWriter, r *http.Request, req chatRequest, u upstream, body io.Reader) {
	id := "chatcmpl-" + randomHex(12)
	created := g.now().Unix()
	model := req.clientModel()

	if !req.Stream {
		var text strings.Builder
		res, err := readUpstream(u.api, body, func(s string) { text.WriteString(s) })
		if err != nil {
			writeJSON(w, http.StatusBadGateway, openAIError("upstream_error", fmt.Sprintf("provider %q (%s) stream: %v", u.provider, u.ref, err)))
			return
		}
		out := map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model,
			"choices": []map[string]any{{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": text.String()},
				"finish_reason": res.finish,
			}},
		}
		if res.usage != nil {
			out["usage"] = res.usage
		}
		writeJSON(w, http.StatusOK, out)
		return
	}

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	event := func(v any) {
		b, _ := json.Marshal(v)
		_, _ = w.Write([]byte("data: " + string(b) + "\n\n"))
		_ = rc.Flush()
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []map[string]any{{"index": 0, "delta": delta, "finish_reason": finish}},
		}
	}
	first := true
	res, err := readUpstream(u.api, body, func(s string) {
		delta := map[string]any{"content": s}
		if first {
			delta["role"] = "assistant"
			first = false
		}
		event(chunk(delta, nil))
	})
	if err != nil {
		if r.Context().Err() == nil {
			// No [DONE]: the client sees the reply was cut short.
			event(openAIError("upstream_error", fmt.Sprintf("provider %q (%s) stream: %v", u.provider, u.ref, err)))
		}
		return
	}
	last := map[string]any{}
	if first {
		last["role"] = "assistant"
	}
	event(chunk(last, res.finish))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage && res.usage != nil {
		event(map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{}, "usage": res.usage,
		})
	}
	_, _ = w.Write([]byte("data: [DONE]\n\n"))
	_ = rc.Flush()
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
