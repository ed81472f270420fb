// Package provider is the model providers clawd holds for its tenants: an
// operator's account at OpenAI, Anthropic or any compatible endpoint, whose
// key clawd keeps sealed and never hands to a gateway. Gateways reach a
// provider through clawd's model gateway with a per-namespace token.
package provider

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// APIs are the provider wire shapes clawd forwards, as OpenClaw names them.
var APIs = []string{"openai-completions", "openai-responses", "anthropic-messages"}

// Provider is one provider as stored: never the plaintext key.
type Provider struct {
	Name    string   `json:"name"`
	API     string   `json:"api"`
	BaseURL string   `json:"baseUrl"`
	Models  []string `json:"models"`
	// SealedKey is the provider key sealed by secrets.Box with the
	// context KeyContext(Name).
	SealedKey string    `json:"sealedKey"`
	CreatedAt time.Time `json:"createdAt"`
}

// KeyContext binds a sealed key to its provider: a sealed key copied to
// another provider's record does not open.
func KeyContext(name string) string { return "provider/" + name }

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)
	modelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$`)
)

// Validate checks what an operator gives for a new provider; key is the
// plaintext key, which must not be empty.
func Validate(name, api, baseURL, key string, models []string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid provider name %q: use lowercase letters, digits and '-' (at most 40), e.g. openai", name)
	}
	if !slices.Contains(APIs, api) {
		return fmt.Errorf("unknown --api %q: use one of %s", api, strings.Join(APIs, ", "))
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("invalid --base-url %q: use the provider's http(s) URL, e.g. https://api.openai.com/v1", baseURL)
	}
	if strings.TrimSpace(key) == "" {
		return errors.New("empty --api-key: give the provider's API key")
	}
	if len(models) == 0 {
		return errors.New("no --models: name the models the provider offers, e.g. --models=gpt-4o,gpt-4o-mini")
	}
	seen := map[string]bool{}
	for _, m := range models {
		if !modelRE.MatchString(m) {
			return fmt.Errorf("invalid model %q: letters, digits and . _ : @ - only", m)
		}
		if seen[m] {
			return fmt.Errorf("model %q is listed twice", m)
		}
		seen[m] = true
	}
	return nil
}

// Offers reports whether p offers model.
func (p Provider) Offers(model string) bool { return slices.Contains(p.Models, model) }

// Resolve turns a model reference into "provider/model": a bare model (the
// guide's "gpt-4o") names the provider that offers it, "provider/model"
// names both. It fails, listing what is offered, when no provider offers
// it or when several offer a bare model.
func Resolve(ref string, providers []Provider) (string, error) {
	if p, m, ok := strings.Cut(ref, "/"); ok {
		for _, pr := range providers {
			if pr.Name == p && pr.Offers(m) {
				return ref, nil
			}
		}
		return "", fmt.Errorf("model %q is not offered by any provider (offered: %s)", ref, offered(providers))
	}
	var found []string
	for _, pr := range providers {
		if pr.Offers(ref) {
			found = append(found, pr.Name+"/"+ref)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("model %q is not offered by any provider (offered: %s)", ref, offered(providers))
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("model %q is offered by several providers: name one of %s", ref, strings.Join(found, ", "))
}

func offered(providers []Provider) string {
	var all []string
	for _, p := range providers {
		for _, m := range p.Models {
			all = append(all, p.Name+"/"+m)
		}
	}
	if len(all) == 0 {
		return "none; add one with clawd provider add"
	}
	slices.Sort(all)
	return strings.Join(all, ", ")
}
