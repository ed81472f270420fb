package modelgw

import "testing"

// Tool calls the model asks for are counted once each, streamed or not,
// in all three shapes; provider-run tools and text are not.
func TestToolCallsCounted(t *testing.T) {
	type ev struct{ name, data string }
	for _, tc := range []struct {
		name   string
		api    API
		body   string
		events []ev
		want   int64
	}{
		{name: "chat body", api: OpenAICompletions, want: 2,
			body: `{"choices":[{"message":{"content":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"x","arguments":"{}"}},{"id":"b","type":"function","function":{"name":"y","arguments":"{}"}}]}}]}`},
		{name: "chat body without tools", api: OpenAICompletions, want: 0,
			body: `{"choices":[{"message":{"content":"say \"tool_calls\""}}]}`},
		{name: "chat stream", api: OpenAICompletions, want: 2, events: []ev{
			{"", `{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"x","arguments":""}}]}}]}`},
			{"", `{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}}]}`},
			{"", `{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_2","function":{"name":"y","arguments":""}}]}}]}`},
			{"", `[DONE]`},
		}},
		{name: "responses body", api: OpenAIResponses, want: 1,
			body: `{"output":[{"type":"web_search_call"},{"type":"function_call","name":"x"},{"type":"message","content":[]}]}`},
		{name: "responses stream", api: OpenAIResponses, want: 1, events: []ev{
			{"response.output_item.added", `{"type":"response.output_item.added","item":{"type":"function_call","name":"x"}}`},
			{"response.output_item.added", `{"type":"response.output_item.added","item":{"type":"message"}}`},
			{"response.output_item.done", `{"type":"response.output_item.done","item":{"type":"function_call","name":"x"}}`},
		}},
		{name: "anthropic body", api: AnthropicMessages, want: 1,
			body: `{"content":[{"type":"text","text":"tool_use"},{"type":"tool_use","id":"t1","name":"x","input":{}}]}`},
		{name: "anthropic stream", api: AnthropicMessages, want: 2, events: []ev{
			{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
			{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"x","input":{}}}`},
			{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}`},
			{"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t2","name":"y","input":{}}}`},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &meter{api: tc.api}
			if tc.body != "" {
				m.body([]byte(tc.body))
			}
			for _, e := range tc.events {
				m.event([]byte(e.name), []byte(e.data))
			}
			u := Usage{Status: 200}
			m.settle(&u, nil)
			if u.ToolCalls != tc.want {
				t.Errorf("ToolCalls = %d, want %d", u.ToolCalls, tc.want)
			}
		})
	}
}
