package modelgw

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		name        string
		body        string
		model       string
		stream      bool
		clientUsage bool
		err         string
	}{
		{"plain", `{"model":"m","messages":[]}`, "m", false, false, ""},
		{"spaces", " \n{ \"messages\" : [ {\"content\":\"}\\\"{\"} ] , \"model\" : \"m\" , \"stream\" : true }\n", "m", true, false, ""},
		{"escaped model", `{"model":"a\"b\\"}`, "a\"b\\", false, false, ""},
		{"escaped key", `{"mo\u0064el":"m"}`, "m", false, false, ""},
		{"case differs", `{"model":"m","MODEL":"x"}`, "m", false, false, ""},
		{"stream null", `{"model":"m","stream":null}`, "m", false, false, ""},
		{"asked usage", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, "m", true, true, ""},
		{"empty object", `{}`, "", false, false, `no "model"`},
		{"two models", `{"model":"m","model":"x"}`, "", false, false, `more than one "model"`},
		{"two streams", `{"model":"m","stream":false,"stream":true}`, "", false, false, `more than one "stream"`},
		{"stream string", `{"model":"m","stream":"yes"}`, "m", false, false, `"stream" is not a boolean`},
		{"model number", `{"model":7}`, "", false, false, `"model" is not a string`},
		{"array", `[{"model":"m"}]`, "", false, false, "not a JSON object"},
		{"unterminated", `{"model":"m`, "", false, false, "not a JSON object"},
		{"unterminated value", `{"model":"m","x":[1,2`, "", false, false, "not a JSON object"},
		{"trailing", `{"model":"m"}x`, "", false, false, "not a JSON object"},
		{"missing colon", `{"model" "m"}`, "", false, false, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := parseRequest([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.model != tc.model || req.stream != tc.stream || req.clientUsage != tc.clientUsage {
				t.Fatalf("got %+v", req)
			}
		})
	}
}

func TestAddStreamUsage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"model":"m","stream":true}`, `{"stream_options":{"include_usage":true},"model":"m","stream":true}`},
		{` {"model":"m"}`, ` {"stream_options":{"include_usage":true},"model":"m"}`},
		{`{"model":"m","stream_options":null,"stream":true}`, `{"model":"m","stream_options":{"include_usage":true},"stream":true}`},
		{`{"model":"m","stream_options":{"include_usage":false,"x":1}}`, `{"model":"m","stream_options":{"include_usage":true,"x":1}}`},
	} {
		req, err := parseRequest([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		out, err := addStreamUsage([]byte(tc.in), req)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != tc.want {
			t.Fatalf("%s → %s, want %s", tc.in, out, tc.want)
		}
		if !json.Valid(out) {
			t.Fatalf("%s is not JSON", out)
		}
	}
}

func TestTextLen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		keys textKeys
		want int64
	}{
		{`{"messages":[{"role":"user","content":"abcd"},{"role":"x","content":[{"type":"text","text":"ef"}]}]}`, inputText, 6},
		{`{"instructions":"abc","input":"de","model":"gpt"}`, inputText, 5},
		{`{"choices":[{"delta":{"content":"a\"b"}}]}`, outputText, 4},
		{`{"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}`, outputText, 2},
		{`{"type":"response.output_text.delta","delta":"Hi there"}`, outputText, 8},
		{`{"content":["not","counted"],"text":"xy"}`, outputText, 2},
		{`{"content":"unterminated`, outputText, 12},
	} {
		if got := textLen([]byte(tc.in), tc.keys); got != tc.want {
			t.Errorf("textLen(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// Events split across reads, CRLF endings, several data lines, a line
// longer than the reader's buffer, and an unterminated last event.
func TestSSEReader(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	stream := "event: a\r\ndata: 1\r\n\r\n" +
		": comment\ndata: 2\ndata: 3\n\n" +
		"data: " + long + "\n\n" +
		"data: last"
	r := newSSEReader(iotest.OneByteReader(strings.NewReader(stream)))
	var raws []string
	type ev struct{ name, data string }
	var evs []ev
	defer r.release()
	for {
		raw, err := r.next()
		if len(raw) > 0 {
			raws = append(raws, string(raw))
			name, data := parseEvent(raw)
			evs = append(evs, ev{string(name), string(data)})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(raws, "") != stream {
		t.Fatal("events do not add up to the stream")
	}
	want := []ev{{"a", "1"}, {"", "2\n3"}, {"", long}, {"", "last"}}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Fatalf("event %d = %.40q, want %.40q", i, evs[i], want[i])
		}
	}
}

// Anthropic's message_delta restating input with cache (as newer API
// versions do) and a stream cut before its message_delta.
func TestAnthropicStreamUsage(t *testing.T) {
	m := &meter{api: AnthropicMessages}
	m.event([]byte("message_start"), []byte(`{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":2,"output_tokens":1}}}`))
	if m.in != 17 || !m.haveIn || m.haveOut {
		t.Fatalf("after message_start %+v", m)
	}
	m.event(nil, []byte(`{"type":"content_block_delta","delta":{"type":"text_delta","text":"Hello there"}}`))
	var cut Usage
	cut.Status = 200
	m.settle(&cut, nil)
	if cut.InputTokens != 17 || cut.OutputTokens != 3 || !cut.Estimated {
		t.Fatalf("a stream cut before message_delta: %+v", cut)
	}
	m.event([]byte("message_delta"), []byte(`{"type":"message_delta","usage":{"output_tokens":4}}`))
	m.event([]byte("message_delta"), []byte(`{"type":"message_delta","usage":{"input_tokens":11,"output_tokens":9}}`))
	var u Usage
	u.Status = 200
	m.settle(&u, nil)
	if u.InputTokens != 18 || u.OutputTokens != 9 || u.Estimated {
		t.Fatalf("usage %+v", u)
	}
}

// FuzzUsageEvents feeds arbitrary streams through the relay of each shape:
// nothing panics, and what reaches the client is the provider's bytes,
// event for event, less only stripped usage chunks.
func FuzzUsageEvents(f *testing.F) {
	f.Add(0, []byte("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n"))
	f.Add(1, []byte("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}}\n\n"))
	f.Add(2, []byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"cache_read_input_tokens\":1,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":4}}\n\n"))
	f.Add(2, []byte("data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":-1}}\r\n\r\n"))
	f.Add(0, []byte("data: {\"usage\" : {\"prompt_tokens\":\"x\"}}\n\n\n\ndata"))
	f.Fuzz(func(t *testing.T, which int, stream []byte) {
		api := []API{OpenAICompletions, OpenAIResponses, AnthropicMessages}[uint(which)%3]
		for _, strip := range []bool{false, true} {
			m := &meter{api: api, stripUsage: strip}
			rec := httptest.NewRecorder()
			cw := &clientWriter{w: rec, rc: http.NewResponseController(rec), ctx: context.Background()}
			if err := relayEvents(cw, iotest.HalfReader(bytes.NewReader(stream)), m); err != nil {
				t.Fatal(err)
			}
			got := rec.Body.Bytes()
			if !strip && !bytes.Equal(got, stream) {
				t.Fatalf("relayed %q, provider sent %q", got, stream)
			}
			if strip && !someEvents(got, stream) {
				t.Fatalf("relayed %q is not the provider's %q less some events", got, stream)
			}
			var u Usage
			u.Status = 200
			m.settle(&u, stream)
			if m.replyChars < 0 || u.OutputTokens < min(m.out, 0) {
				t.Fatalf("counts %+v from %q", u, stream)
			}
		}
	})
}

// someEvents reports whether relayed is the events of stream in order,
// some of them left out.
func someEvents(relayed, stream []byte) bool {
	r := newSSEReader(bytes.NewReader(stream))
	defer r.release()
	for {
		raw, err := r.next()
		if len(raw) > 0 && bytes.HasPrefix(relayed, raw) {
			relayed = relayed[len(raw):]
		}
		if err != nil {
			return len(relayed) == 0
		}
	}
}

// FuzzRequestFields checks the request scanner against encoding/json on
// every valid object: same model and stream, or a refusal for a member
// given twice (which encoding/json would resolve by taking the last).
func FuzzRequestFields(f *testing.F) {
	f.Add([]byte(`{"model":"m","stream":true,"messages":[{"content":"x"}]}`))
	f.Add([]byte(`{"model":"m","model":"n"}`))
	f.Add([]byte(`{"mo\u0064el":"m","x":{"model":"y"}}`))
	f.Add([]byte(`{"x":"\\\"","model":"\u00e9"}`))
	f.Add([]byte(` {"stream_options":{"include_usage":true},"stream":false,"model":""} `))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseRequest(body)
		if !json.Valid(body) {
			return // the provider refuses it whatever the gateway read
		}
		var exact map[string]json.RawMessage
		if json.Unmarshal(body, &exact) != nil || exact == nil {
			if err == nil {
				t.Fatalf("accepted %s, which is no JSON object", body)
			}
			return
		}
		if err != nil {
			if strings.Contains(err.Error(), "more than one") || strings.Contains(err.Error(), "is not") || strings.Contains(err.Error(), "no \"model\"") {
				return
			}
			t.Fatalf("refused valid %s: %v", body, err)
		}
		var want string
		if json.Unmarshal(exact["model"], &want) != nil || want != req.model {
			t.Fatalf("model %q, encoding/json reads %q in %s", req.model, want, body)
		}
		var stream bool
		_ = json.Unmarshal(exact["stream"], &stream)
		if stream != req.stream {
			t.Fatalf("stream %v, encoding/json reads %v in %s", req.stream, stream, body)
		}
		if req.stream {
			out, err := addStreamUsage(body, req)
			if err != nil {
				return
			}
			var after map[string]json.RawMessage
			var opts struct {
				IncludeUsage bool `json:"include_usage"`
			}
			err = json.Unmarshal(out, &after)
			if err == nil {
				err = json.Unmarshal(after["stream_options"], &opts)
			}
			if err != nil || !opts.IncludeUsage || !bytes.Equal(after["model"], exact["model"]) {
				t.Fatalf("rewrote %s to %s (%v)", body, out, err)
			}
		}
	})
}
