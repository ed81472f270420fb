package modelgw

import (
	"bytes"
	"encoding/json"
)

// wireUsage is the union of the three shapes' usage objects. Pointers tell
// "reported as 0" from "not reported".
type wireUsage struct {
	PromptTokens     *int64 `json:"prompt_tokens"`     // chat completions
	CompletionTokens *int64 `json:"completion_tokens"` // chat completions
	InputTokens      *int64 `json:"input_tokens"`      // responses, anthropic
	OutputTokens     *int64 `json:"output_tokens"`     // responses, anthropic
	// Anthropic counts cached prompt tokens apart from input_tokens (the
	// OpenAI shapes count them inside); they are input all the same.
	CacheCreation *int64 `json:"cache_creation_input_tokens"`
	CacheRead     *int64 `json:"cache_read_input_tokens"`
}

// meter accumulates one call's token counts from the provider's own
// figures, from a whole reply (body) or event by event (event).
type meter struct {
	api API
	// stripUsage: the gateway asked a chat completions stream for its
	// usage chunk on the client's behalf, so the client must not see it.
	stripUsage bool

	in, out         int64
	haveIn, haveOut bool
	// Anthropic's cached input as message_start reported it, for a
	// message_delta that restates input_tokens alone.
	cacheCreation, cacheRead int64
	// replyChars is the reply text seen, for an estimate when the
	// provider reports no usage.
	replyChars int64
	// toolCalls counts the tool calls the model asked for: each is a tool
	// or skill the gateway then runs.
	toolCalls int64
}

// body counts a whole (non-streamed) reply.
func (m *meter) body(b []byte) {
	var r struct {
		Usage *wireUsage `json:"usage"`
	}
	if json.Unmarshal(b, &r) == nil && r.Usage != nil {
		u := r.Usage
		switch m.api {
		case OpenAICompletions:
			m.setIn(u.PromptTokens)
			m.setOut(u.CompletionTokens)
		case OpenAIResponses:
			m.setIn(u.InputTokens)
			m.setOut(u.OutputTokens)
		case AnthropicMessages:
			m.anthropicInput(u)
			m.setOut(u.OutputTokens)
		}
	}
	if !m.haveIn || !m.haveOut {
		m.replyChars += textLen(b, outputText)
	}
	m.toolCalls += bodyToolCalls(m.api, b)
}

// bodyToolCalls counts the tool calls in a whole reply: chat completions'
// message.tool_calls, Responses' function_call output items, Anthropic's
// tool_use content blocks.
func bodyToolCalls(api API, b []byte) int64 {
	if !bytes.Contains(b, []byte(`"tool_calls"`)) && !bytes.Contains(b, []byte(`_call"`)) && !bytes.Contains(b, []byte(`"tool_use"`)) {
		return 0
	}
	var n int64
	switch api {
	case OpenAICompletions:
		var r struct {
			Choices []struct {
				Message struct {
					ToolCalls []json.RawMessage `json:"tool_calls"`
				} `json:"message"`
			} `json:"choices"`
		}
		if json.Unmarshal(b, &r) == nil {
			for _, c := range r.Choices {
				n += int64(len(c.Message.ToolCalls))
			}
		}
	case OpenAIResponses:
		var r struct {
			Output []typed `json:"output"`
		}
		if json.Unmarshal(b, &r) == nil {
			for _, o := range r.Output {
				n += o.toolCall()
			}
		}
	case AnthropicMessages:
		var r struct {
			Content []typed `json:"content"`
		}
		if json.Unmarshal(b, &r) == nil {
			for _, c := range r.Content {
				n += c.toolCall()
			}
		}
	}
	return n
}

// typed is an output item or content block, known by its type.
type typed struct {
	Type string `json:"type"`
}

// toolCall is 1 for a call the gateway runs: a function or custom tool
// (Responses), a tool_use block (Anthropic). Tools the provider runs
// itself (web search, …) are not the gateway's.
func (t typed) toolCall() int64 {
	switch t.Type {
	case "function_call", "custom_tool_call", "tool_use":
		return 1
	}
	return 0
}

// event counts one server-sent event (its event name and data) and
// reports whether the client must not see it.
func (m *meter) event(name, data []byte) (drop bool) {
	switch m.api {
	case OpenAICompletions:
		return m.chatEvent(data)
	case OpenAIResponses:
		m.responsesEvent(name, data)
	case AnthropicMessages:
		m.anthropicEvent(name, data)
	}
	return false
}

// chatEvent reads a chat completions chunk. Usage comes in a last chunk
// with no choices; once the gateway asked for it, every chunk carries
// "usage":null, so only a usage object is decoded.
func (m *meter) chatEvent(data []byte) (drop bool) {
	if bytes.Equal(data, []byte("[DONE]")) {
		return false
	}
	if hasObject(data, `"usage"`) {
		var c struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   *wireUsage        `json:"usage"`
		}
		if json.Unmarshal(data, &c) == nil && c.Usage != nil {
			m.setIn(c.Usage.PromptTokens)
			m.setOut(c.Usage.CompletionTokens)
			if len(c.Choices) == 0 {
				return m.stripUsage
			}
		}
	}
	m.replyChars += textLen(data, outputText)
	if bytes.Contains(data, []byte(`"tool_calls"`)) {
		m.toolCalls += chunkToolCalls(data)
	}
	return false
}

// chunkToolCalls counts the tool calls a chat completions chunk starts: the
// first delta of each carries its id, the rest only its index.
func chunkToolCalls(data []byte) int64 {
	var c struct {
		Choices []struct {
			Delta struct {
				ToolCalls []struct {
					ID string `json:"id"`
				} `json:"tool_calls"`
			} `json:"delta"`
		} `json:"choices"`
	}
	var n int64
	if json.Unmarshal(data, &c) == nil {
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				if tc.ID != "" {
					n++
				}
			}
		}
	}
	return n
}

// responsesEvent reads a Responses API event: usage is in the final
// response object (completed, or incomplete/failed when cut short).
func (m *meter) responsesEvent(name, data []byte) {
	typ := eventType(name, data)
	switch string(typ) {
	case "response.output_item.added":
		var e struct {
			Item typed `json:"item"`
		}
		if json.Unmarshal(data, &e) == nil {
			m.toolCalls += e.Item.toolCall()
		}
	case "response.completed", "response.incomplete", "response.failed":
		var e struct {
			Response struct {
				Usage *wireUsage `json:"usage"`
			} `json:"response"`
		}
		if json.Unmarshal(data, &e) == nil && e.Response.Usage != nil {
			m.setIn(e.Response.Usage.InputTokens)
			m.setOut(e.Response.Usage.OutputTokens)
		}
	default:
		if bytes.HasSuffix(typ, []byte(".delta")) {
			// Only deltas: the .done events and the final response
			// repeat the whole text.
			m.replyChars += textLen(data, outputText)
		}
	}
}

// anthropicEvent reads a Messages stream event: input (and a placeholder
// output) in message_start, cumulative output in each message_delta.
func (m *meter) anthropicEvent(name, data []byte) {
	switch string(eventType(name, data)) {
	case "message_start":
		var e struct {
			Message struct {
				Usage *wireUsage `json:"usage"`
			} `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && e.Message.Usage != nil {
			u := e.Message.Usage
			m.anthropicInput(u)
			if u.OutputTokens != nil {
				// Not final: message_delta says how many in the end.
				m.out = *u.OutputTokens
			}
		}
	case "message_delta":
		var e struct {
			Usage *wireUsage `json:"usage"`
		}
		if json.Unmarshal(data, &e) == nil && e.Usage != nil {
			m.setOut(e.Usage.OutputTokens)
			if e.Usage.InputTokens != nil {
				m.anthropicInput(e.Usage)
			}
		}
	case "content_block_start":
		var e struct {
			Block typed `json:"content_block"`
		}
		if json.Unmarshal(data, &e) == nil {
			m.toolCalls += e.Block.toolCall()
		}
	case "content_block_delta":
		m.replyChars += textLen(data, outputText)
	}
}

// anthropicInput sets the input from an Anthropic usage object: its
// input_tokens plus the cached input, which a provider may leave out of a
// later restatement.
func (m *meter) anthropicInput(u *wireUsage) {
	if u.InputTokens == nil {
		return
	}
	if u.CacheCreation != nil {
		m.cacheCreation = *u.CacheCreation
	}
	if u.CacheRead != nil {
		m.cacheRead = *u.CacheRead
	}
	m.in, m.haveIn = *u.InputTokens+m.cacheCreation+m.cacheRead, true
}

func (m *meter) setIn(v *int64) {
	if v != nil {
		m.in, m.haveIn = *v, true
	}
}

func (m *meter) setOut(v *int64) {
	if v != nil {
		m.out, m.haveOut = *v, true
	}
}

// settle fills u's counts. A successful call the provider reported no
// usage for is estimated from the request's and reply's text; a failed
// one counts only what the provider reported (a refusal generates
// nothing).
func (m *meter) settle(u *Usage, reqBody []byte) {
	u.InputTokens, u.OutputTokens = m.in, m.out
	u.ToolCalls = m.toolCalls
	if u.Status >= 400 || u.Status == 0 {
		return
	}
	if !m.haveIn {
		u.InputTokens = estimateTokens(textLen(reqBody, inputText))
		u.Estimated = true
	}
	if !m.haveOut {
		u.OutputTokens = max(m.out, estimateTokens(m.replyChars))
		u.Estimated = true
	}
}

// eventType is an event's type: its event: field, which all three
// providers send, else the data's top-level "type".
func eventType(name, data []byte) []byte {
	if len(name) > 0 {
		return name
	}
	var typ member
	if _, err := topLevel(data, map[string]*member{"type": &typ}); err != nil || typ.raw == nil {
		return nil
	}
	var s string
	_ = json.Unmarshal(typ.raw, &s)
	return []byte(s)
}

// hasObject reports whether a member named key (quoted) has an object
// value somewhere in data. A quoted key cannot occur inside a JSON string
// (its quotes would be escaped), so this is exact for valid JSON.
func hasObject(data []byte, key string) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(key))
		if j < 0 {
			return false
		}
		i += j + len(key)
		k := skipSpace(data, i)
		if k < len(data) && data[k] == ':' {
			k = skipSpace(data, k+1)
			if k < len(data) && data[k] == '{' {
				return true
			}
		}
	}
}
