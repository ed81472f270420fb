package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxEventBytes bounds one server-sent event line from a provider.
const maxEventBytes = 1 << 20

// chatUsage is usage in OpenAI's chat completion shape.
type chatUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// streamResult is what a provider's stream said besides its text.
type streamResult struct {
	finish string
	usage  *chatUsage // nil when the provider reported none
}

// errStreamEnd stops reading at a stream's terminal event.
var errStreamEnd = errors.New("end of stream")

// readUpstream reads a provider's server-sent events in api's shape,
// handing each piece of assistant text to onText as it arrives.
func readUpstream(api string, body io.Reader, onText func(string)) (streamResult, error) {
	res := streamResult{finish: "stop"}
	var handle func(event, data string) error
	switch api {
	case apiAnthropicMessages:
		handle = anthropicEvents(&res, onText)
	case apiOpenAIResponses:
		handle = responsesEvents(&res, onText)
	default:
		handle = chatEvents(&res, onText)
	}
	err := readSSE(body, handle)
	if errors.Is(err, errStreamEnd) {
		err = nil
	}
	return res, err
}

// readSSE calls handle for each event of an event stream, until the stream
// ends or handle returns an error. A stream that ends without its terminal
// event is taken as complete: the stand-in is lenient where OpenClaw's SDKs
// would be too.
func readSSE(body io.Reader, handle func(event, data string) error) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	var event string
	var data []string
	dispatch := func() error {
		defer func() { event, data = "", nil }()
		if len(data) == 0 {
			return nil
		}
		return handle(event, strings.Join(data, "\n"))
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if err := dispatch(); err != nil {
				return err
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			data = append(data, value)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return dispatch()
}

// apiError is the error object the three APIs put in an error event.
type apiError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
}

func (e *apiError) err() error {
	if e.Message == "" {
		return fmt.Errorf("error event (%s)", e.Type)
	}
	return fmt.Errorf("error event: %s", e.Message)
}

// chatEvents reads OpenAI chat completion chunks.
func chatEvents(res *streamResult, onText func(string)) func(string, string) error {
	return func(_, data string) error {
		if data == "[DONE]" {
			return errStreamEnd
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content *string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *chatUsage `json:"usage"`
			Error *apiError  `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return fmt.Errorf("bad chunk %q: %w", truncate(data, 200), err)
		}
		if c.Error != nil {
			return c.Error.err()
		}
		if len(c.Choices) > 0 {
			if s := c.Choices[0].Delta.Content; s != nil && *s != "" {
				onText(*s)
			}
			if f := c.Choices[0].FinishReason; f != nil && *f != "" {
				res.finish = *f
			}
		}
		if c.Usage != nil {
			u := *c.Usage
			if u.TotalTokens == 0 {
				u.TotalTokens = u.PromptTokens + u.CompletionTokens
			}
			res.usage = &u
		}
		return nil
	}
}

// anthropicEvents reads Anthropic message stream events. Input tokens come
// in message_start (cached ones counted apart), output tokens in the last
// message_delta.
func anthropicEvents(res *streamResult, onText func(string)) func(string, string) error {
	type usage struct {
		InputTokens              *int64 `json:"input_tokens"`
		CacheCreationInputTokens int64  `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     int64  `json:"cache_read_input_tokens"`
		OutputTokens             *int64 `json:"output_tokens"`
	}
	var in, out int64
	reported := false
	take := func(u *usage) {
		if u == nil {
			return
		}
		if u.InputTokens != nil {
			in = *u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
			reported = true
		}
		if u.OutputTokens != nil {
			out = *u.OutputTokens
			reported = true
		}
		if reported {
			res.usage = &chatUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out}
		}
	}
	return func(event, data string) error {
		var e struct {
			Type    string `json:"type"`
			Message struct {
				Usage *usage `json:"usage"`
			} `json:"message"`
			Delta struct {
				Type       string `json:"type"`
				Text       string `json:"text"`
				StopReason string `json:"stop_reason"`
			} `json:"delta"`
			Usage *usage    `json:"usage"`
			Error *apiError `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return fmt.Errorf("bad %s event %q: %w", event, truncate(data, 200), err)
		}
		if e.Type == "" {
			e.Type = event
		}
		switch e.Type {
		case "message_start":
			take(e.Message.Usage)
		case "content_block_delta":
			if e.Delta.Type == "text_delta" && e.Delta.Text != "" {
				onText(e.Delta.Text)
			}
		case "message_delta":
			take(e.Usage)
			if e.Delta.StopReason != "" {
				res.finish = anthropicFinish(e.Delta.StopReason)
			}
		case "message_stop":
			return errStreamEnd
		case "error":
			if e.Error == nil {
				e.Error = &apiError{}
			}
			return e.Error.err()
		}
		return nil
	}
}

// anthropicFinish maps an Anthropic stop_reason to OpenAI's finish_reason.
func anthropicFinish(stop string) string {
	switch stop {
	case "max_tokens":
		return "length"
	case "tool_use":
		return "tool_calls"
	default:
		return "stop"
	}
}

// responsesEvents reads OpenAI Responses stream events.
func responsesEvents(res *streamResult, onText func(string)) func(string, string) error {
	return func(event, data string) error {
		var e struct {
			Type     string `json:"type"`
			Delta    string `json:"delta"`
			Message  string `json:"message"`
			Response struct {
				Error *apiError `json:"error"`
				Usage *struct {
					InputTokens  int64 `json:"input_tokens"`
					OutputTokens int64 `json:"output_tokens"`
					TotalTokens  int64 `json:"total_tokens"`
				} `json:"usage"`
			} `json:"response"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return fmt.Errorf("bad %s event %q: %w", event, truncate(data, 200), err)
		}
		if e.Type == "" {
			e.Type = event
		}
		switch e.Type {
		case "response.output_text.delta":
			if e.Delta != "" {
				onText(e.Delta)
			}
		case "response.completed", "response.incomplete":
			if u := e.Response.Usage; u != nil {
				total := u.TotalTokens
				if total == 0 {
					total = u.InputTokens + u.OutputTokens
				}
				res.usage = &chatUsage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: total}
			}
			if e.Type == "response.incomplete" {
				res.finish = "length"
			}
			return errStreamEnd
		case "response.failed":
			if e.Response.Error == nil {
				e.Response.Error = &apiError{Message: "response failed"}
			}
			return e.Response.Error.err()
		case "error":
			return (&apiError{Message: e.Message}).err()
		}
		return nil
	}
}
