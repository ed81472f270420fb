package fakeprovider

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, h http.Handler, path, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(b)
}

var (
	openAIKey    = map[string]string{"Authorization": "Bearer k"}
	anthropicKey = map[string]string{"X-Api-Key": "k", "Anthropic-Version": "2023-06-01"}
)

// The key is checked in each provider's way, and refused in its shape.
func TestAuth(t *testing.T) {
	p := New(Options{APIKey: "k"})
	for _, tc := range []struct {
		path   string
		header map[string]string
		code   int
		shape  string
	}{
		{"/v1/chat/completions", nil, 401, `"invalid_api_key"`},
		{"/v1/chat/completions", map[string]string{"Authorization": "Bearer other"}, 401, `"invalid_api_key"`},
		{"/v1/messages", map[string]string{"Authorization": "Bearer k", "Anthropic-Version": "2023-06-01"}, 401, `"authentication_error"`},
		{"/v1/messages", map[string]string{"X-Api-Key": "k"}, 400, `anthropic-version`},
		{"/v1/chat/completions", openAIKey, 200, `"chat.completion"`},
		{"/v1/messages", anthropicKey, 200, `"type":"message"`},
	} {
		resp, body := post(t, p, tc.path, `{"model":"m","messages":[{"role":"user","content":"hi there"}]}`, tc.header)
		if resp.StatusCode != tc.code || !strings.Contains(body, tc.shape) {
			t.Errorf("%s %v: %d %s", tc.path, tc.header, resp.StatusCode, body)
		}
	}
	if n := len(p.Calls()); n != 6 {
		t.Fatalf("%d calls recorded, want every one (6)", n)
	}
}

// A chat stream carries its usage chunk only when asked, as OpenAI's does.
func TestChatStreamUsage(t *testing.T) {
	p := New(Options{APIKey: "k"})
	for _, asked := range []bool{false, true} {
		body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"one two three"}]`
		if asked {
			body += `,"stream_options":{"include_usage":true}`
		}
		resp, out := post(t, p, "/v1/chat/completions", body+"}", openAIKey)
		if resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
			t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
		}
		has := strings.Contains(out, `"choices":[],"usage":{"prompt_tokens":6,"completion_tokens":5`)
		if has != asked {
			t.Fatalf("asked %v, usage chunk %v:\n%s", asked, has, out)
		}
		if strings.Contains(out, `"usage":null`) != asked {
			t.Fatalf("asked %v: usage:null in chunks wrong:\n%s", asked, out)
		}
		c := p.Calls()[len(p.Calls())-1]
		if want := map[bool]int64{false: 0, true: 6}[asked]; c.InputTokens != want {
			t.Fatalf("recorded input %d, want %d", c.InputTokens, want)
		}
	}
}

// Modes by model name.
func TestModes(t *testing.T) {
	p := New(Options{APIKey: "k", Reply: "a b"})
	resp, body := post(t, p, "/v1/responses", `{"model":"x-fake-error-503","input":"hi"}`, openAIKey)
	if resp.StatusCode != 503 || !strings.Contains(body, "fake provider error 503") {
		t.Fatalf("error mode: %d %s", resp.StatusCode, body)
	}
	_, body = post(t, p, "/v1/responses", `{"model":"fake-no-usage","input":"hi"}`, openAIKey)
	if !strings.Contains(body, `"usage":null`) {
		t.Fatalf("no-usage mode: %s", body)
	}
	_, body = post(t, p, "/v1/messages", `{"model":"fake-cache","system":"s","messages":[{"role":"user","content":[{"type":"text","text":"x y"}]}]}`, anthropicKey)
	var m struct {
		Usage struct {
			Input  int64 `json:"input_tokens"`
			Create int64 `json:"cache_creation_input_tokens"`
			Read   int64 `json:"cache_read_input_tokens"`
			Output int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if m.Usage.Input+m.Usage.Create+m.Usage.Read != 3+Overhead || m.Usage.Create == 0 || m.Usage.Output != 2 {
		t.Fatalf("cache mode: %s", body)
	}
	if in, out := p.Totals(); in != 3+Overhead || out != 2 {
		t.Fatalf("totals %d/%d", in, out)
	}
}
