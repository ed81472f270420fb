package integration

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/modelgw/fakeprovider"
)

const fakeProviderKey = "sk-fake-provider-0123456789abcdef"

// startFakeProvider serves the in-repo fake OpenAI/Anthropic provider on
// the host, where clawd's model gateway reaches it.
func startFakeProvider(t *testing.T) (*fakeprovider.Provider, string) {
	t.Helper()
	fp := fakeprovider.New(fakeprovider.Options{APIKey: fakeProviderKey})
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	return fp, srv.URL
}

// chat sends an OpenAI chat completion to a namespace's gateway through the
// router, as a tenant's client would, and returns the status and the
// assistant's text (streamed or not).
func (d *daemon) chat(host, apiKey string, stream bool) (int, string) {
	d.t.Helper()
	req, err := newChatRequest("http://"+d.routerAddr, host, stream)
	if err != nil {
		d.t.Fatal(err)
	}
	if apiKey != "" {
		req.Header.Set("X-API-Key", apiKey)
	}
	resp, err := chatClient.Do(req)
	if err != nil {
		d.t.Fatalf("chat via %s: %v", host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if !stream {
		var out struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &out); err != nil || len(out.Choices) == 0 {
			d.t.Fatalf("chat reply: %v: %s", err, b)
		}
		return 200, out.Choices[0].Message.Content
	}
	var text strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal([]byte(data), &chunk) == nil && len(chunk.Choices) > 0 {
			text.WriteString(chunk.Choices[0].Delta.Content)
		}
	}
	return 200, text.String()
}

// gatewayProvider is a provider as a gateway's openclaw.json lists it.
type gatewayProvider struct {
	BaseURL string `json:"baseUrl"`
	APIKey  string `json:"apiKey"`
}

// gatewayProviders reads the providers from a gateway's openclaw.json.
func gatewayProviders(t *testing.T, container string) map[string]gatewayProvider {
	t.Helper()
	var cfg struct {
		Models struct {
			Providers map[string]gatewayProvider `json:"providers"`
		} `json:"models"`
	}
	if err := json.Unmarshal(gatewayFile(t, container, "/home/node/.openclaw/openclaw.json"), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Models.Providers
}

type quotaStatus struct {
	Models []struct {
		Model          string `json:"model"`
		Calls          int64  `json:"calls"`
		Errors         int64  `json:"errors"`
		InputTokens    int64  `json:"inputTokens"`
		OutputTokens   int64  `json:"outputTokens"`
		EstimatedCalls int64  `json:"estimatedCalls"`
	} `json:"models"`
	Totals struct {
		Calls        int64 `json:"calls"`
		InputTokens  int64 `json:"inputTokens"`
		OutputTokens int64 `json:"outputTokens"`
	} `json:"totals"`
}

func (d *daemon) quotaStatus(ns string) quotaStatus {
	d.t.Helper()
	var qs quotaStatus
	out := d.mustClawd("namespace", "quota-status", ns, "-o", "json")
	if err := json.Unmarshal([]byte(out), &qs); err != nil {
		d.t.Fatalf("quota-status: %v\n%s", err, out)
	}
	return qs
}

// A namespace's gateway reaches a model only through clawd: its config
// names clawd's model gateway with a token of the namespace's, clawd calls
// the provider with the provider's key, and counts the tokens the provider
// reported. The stand-in calls its providers from openclaw.json as
// OpenClaw does.
func TestModelGatewayThroughTheStandIn(t *testing.T) {
	fp, fakeURL := startFakeProvider(t)
	d := startDaemon(t)

	t.Run("bad provider input", func(t *testing.T) {
		for _, args := range [][]string{
			{"provider", "add", "x", "--api=openai-chat", "--base-url=" + fakeURL + "/v1", "--api-key=k", "--models=m"},
			{"provider", "add", "x", "--api=openai-completions", "--base-url=ftp://host/v1", "--api-key=k", "--models=m"},
			{"provider", "add", "x", "--api=openai-completions", "--base-url=" + fakeURL + "/v1", "--api-key=", "--models=m"},
			{"provider", "add", "x", "--api=openai-completions", "--base-url=" + fakeURL + "/v1", "--api-key=k"},
			{"provider", "add", "Bad_Name", "--api=openai-completions", "--base-url=" + fakeURL + "/v1", "--api-key=k", "--models=m"},
		} {
			out, errOut, err := d.clawd(args...)
			if err == nil || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || out != "" {
				t.Errorf("clawd %s: err %v, stdout %q, stderr %q; want one line and a non-zero exit", strings.Join(args, " "), err, out, errOut)
			}
		}
		if out := d.mustClawd("provider", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
			t.Errorf("a refused provider was stored: %s", out)
		}
	})

	d.addProvider("openai", "openai-completions", fakeURL+"/v1", fakeProviderKey, "gpt-4o", "gpt-4o-mini")
	if _, errOut, err := d.clawd("provider", "add", "openai", "--api=openai-completions", "--base-url="+fakeURL+"/v1", "--api-key=k2", "--models=gpt-4o"); err == nil || !strings.Contains(errOut, "exists") {
		t.Errorf("duplicate provider: err %v, %s", err, errOut)
	}
	list := d.mustClawd("provider", "list", "-o", "json")
	if strings.Contains(list, fakeProviderKey) || !strings.Contains(list, `"gpt-4o-mini"`) {
		t.Errorf("provider list shows the key or lacks the models: %s", list)
	}
	if _, errOut, err := d.clawd("config", "set", "namespaces.*.models.primary", "gpt-5"); err == nil || !strings.Contains(errOut, "openai/gpt-4o") {
		t.Errorf("a model no provider offers: err %v, %s; want a refusal listing the offered models", err, errOut)
	}
	d.mustClawd("config", "set", "namespaces.*.models.primary", "gpt-4o") // bare, as in the guide
	d.mustClawd("namespace", "create", "alpha", "--hostname=alpha.localhost")
	d.mustClawd("namespace", "create", "beta", "--hostname=beta.localhost")

	alpha := d.get("alpha")
	raw := string(gatewayFile(t, alpha.Status.ContainerID, "/home/node/.openclaw/openclaw.json"))
	if strings.Contains(raw, fakeProviderKey) || !strings.Contains(raw, `"primary": "clawd-openai/gpt-4o"`) || !strings.Contains(raw, `"apiKey": "cmt.alpha.`) {
		t.Fatalf("alpha's openclaw.json: want the namespace token, the resolved model and never the provider key:\n%s", raw)
	}
	if env := dockerInspect(t, "{{json .Config.Env}}", alpha.Status.ContainerID); strings.Contains(env, fakeProviderKey) {
		t.Errorf("the provider key is in the gateway's environment: %s", env)
	}
	if strings.Contains(d.log(), fakeProviderKey) {
		t.Error("the provider key is in clawd's log")
	}

	code, text := d.chat("alpha.localhost", "", false)
	if code != 200 || !strings.Contains(text, "fake provider") {
		t.Fatalf("chat through alpha: %d %q; want the fake provider's reply", code, text)
	}
	code, text = d.chat("alpha.localhost", "", true)
	if code != 200 || !strings.Contains(text, "fake provider") {
		t.Fatalf("streamed chat through alpha: %d %q", code, text)
	}
	calls := fp.Calls()
	if len(calls) != 2 {
		t.Fatalf("the fake provider saw %d calls, want 2", len(calls))
	}
	for _, c := range calls {
		if got := c.Header.Get("Authorization"); got != "Bearer "+fakeProviderKey {
			t.Errorf("the provider got Authorization %q, want its own key", got)
		}
		if !c.Stream {
			t.Error("the gateway's call upstream was not streamed (OpenClaw always streams)")
		}
	}
	in, out := fp.Totals()
	eventually(t, 10*time.Second, "quota-status counts what the provider reported", func() bool {
		qs := d.quotaStatus("alpha")
		return len(qs.Models) == 1 && qs.Models[0].Model == "openai/gpt-4o" && qs.Models[0].Calls == 2 &&
			qs.Models[0].InputTokens == in && qs.Models[0].OutputTokens == out && qs.Models[0].EstimatedCalls == 0
	})
	if qs := d.quotaStatus("beta"); qs.Totals.Calls != 0 {
		t.Errorf("beta's quota-status counts alpha's calls: %+v", qs)
	}
	_, metrics := d.scrape(d.adminToken())
	for _, want := range []string{
		`clawd_model_calls_total{code="200",model="gpt-4o",namespace="alpha"} 2`,
		`clawd_model_tokens_total{direction="input",model="gpt-4o",namespace="alpha"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	t.Run("remove refused while used", func(t *testing.T) {
		_, errOut, err := d.clawd("provider", "remove", "openai")
		if err == nil || !strings.Contains(errOut, "every namespace") {
			t.Errorf("removing a used provider: err %v, %s; want a refusal naming its users", err, errOut)
		}
	})

	t.Run("a new provider reaches running gateways", func(t *testing.T) {
		before := d.standin("alpha.localhost")
		d.addProvider("anthropic", "anthropic-messages", fakeURL, fakeProviderKey, "claude-sonnet-4-5")
		d.mustClawd("config", "set", "namespaces.alpha.models.primary", "anthropic/claude-sonnet-4-5")
		eventually(t, 30*time.Second, "alpha's gateway lists the new provider", func() bool {
			return strings.Contains(string(gatewayFile(t, alpha.Status.ContainerID, "/home/node/.openclaw/openclaw.json")), `"api": "anthropic-messages"`)
		})
		eventually(t, 30*time.Second, "alpha answers from the new provider", func() bool {
			code, text := d.chat("alpha.localhost", "", false)
			return code == 200 && strings.Contains(text, "fake provider") && fp.Calls()[len(fp.Calls())-1].Path == "/v1/messages"
		})
		if now := d.standin("alpha.localhost"); now.BootCount != before.BootCount {
			t.Errorf("adding a provider restarted the gateway (boot %d → %d)", before.BootCount, now.BootCount)
		}
	})

	t.Run("a token from outside its namespace is refused", func(t *testing.T) {
		beta := d.get("beta")
		p := gatewayProviders(t, beta.Status.ContainerID)["clawd-openai"]
		// From the host the token is refused too: calls count only from the
		// namespace's own gateway.
		req, _ := http.NewRequest("POST", p.BaseURL+"/chat/completions", strings.NewReader(`{"model":"gpt-4o","messages":[]}`))
		req.Header.Set("Authorization", "Bearer "+p.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(b), `"error"`) {
			t.Errorf("beta's token from the host: %d %s; want 401 in OpenAI's error shape", resp.StatusCode, b)
		}
		n := len(fp.Calls())
		d.mustClawd("namespace", "delete", "beta")
		eventually(t, 60*time.Second, "beta is gone", func() bool {
			_, _, err := d.clawd("namespace", "get", "beta")
			return err != nil
		})
		if len(fp.Calls()) != n {
			t.Error("a refused call reached the provider")
		}
	})
}
