package fakeprovider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// turn is one successful call being answered.
type turn struct {
	p    *Provider
	w    http.ResponseWriter
	r    *http.Request
	req  *request
	call *Call

	id      int64
	in, out int64
	usage   bool // report usage (not fake-no-usage)
	cache   bool // report part of Anthropic input as cached
	created int64
	delay   time.Duration
	done    func() // records the call
	seq     int    // Responses events' sequence_number
	gone    bool
}

// sleep waits the delay between events; false when the client left.
func (t *turn) sleep() bool {
	if t.delay <= 0 {
		return t.r.Context().Err() == nil
	}
	select {
	case <-time.After(t.delay):
		return true
	case <-t.r.Context().Done():
		return false
	}
}

func (t *turn) flush() { _ = http.NewResponseController(t.w).Flush() }

// event writes one SSE event (name empty: data only, as OpenAI's chat
// completions sends) and flushes it.
func (t *turn) event(name string, v any) {
	if t.gone {
		return
	}
	var b []byte
	if s, ok := v.(string); ok {
		b = []byte(s)
	} else {
		b, _ = json.Marshal(v)
	}
	var err error
	if name != "" {
		_, err = fmt.Fprintf(t.w, "event: %s\ndata: %s\n\n", name, b)
	} else {
		_, err = fmt.Fprintf(t.w, "data: %s\n\n", b)
	}
	if err != nil {
		t.gone = true
		return
	}
	t.flush()
}

// finish records the call before the stream's last event, with the usage
// the stream reports (reported: it carries usage).
func (t *turn) finish(reported bool) {
	if reported && t.usage && !t.gone {
		t.call.InputTokens, t.call.OutputTokens = t.in, t.out
	}
	t.done()
}

func (t *turn) reply() string { return t.p.opts.Reply }

// OpenAI chat completions.

type chatUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Delta        *chatMessage    `json:"delta,omitempty"`
	Message      *chatMessage    `json:"message,omitempty"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type chatMessage struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type chatChunk struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint *string      `json:"system_fingerprint"`
	Choices           []chatChoice `json:"choices"`
	// Usage is null in every chunk but the last when usage was asked
	// for, and absent otherwise, as OpenAI sends it.
	Usage json.RawMessage `json:"usage,omitempty"`
}

func (t *turn) chatID() string { return fmt.Sprintf("chatcmpl-fake%d", t.id) }

func (t *turn) chatReply() any {
	stop, content := "stop", t.reply()
	r := chatChunk{
		ID: t.chatID(), Object: "chat.completion", Created: t.created, Model: t.req.Model,
		Choices: []chatChoice{{Message: &chatMessage{Role: "assistant", Content: &content}, Logprobs: json.RawMessage("null"), FinishReason: &stop}},
	}
	if t.usage {
		r.Usage, _ = json.Marshal(chatUsage{t.in, t.out, t.in + t.out})
	}
	return r
}

func (t *turn) chatStream() {
	includeUsage := t.req.StreamOptions != nil && t.req.StreamOptions.IncludeUsage
	chunk := func(delta chatMessage, finish *string) chatChunk {
		c := chatChunk{
			ID: t.chatID(), Object: "chat.completion.chunk", Created: t.created, Model: t.req.Model,
			Choices: []chatChoice{{Delta: &delta, Logprobs: json.RawMessage("null"), FinishReason: finish}},
		}
		if includeUsage {
			c.Usage = json.RawMessage("null")
		}
		return c
	}
	empty := ""
	t.event("", chunk(chatMessage{Role: "assistant", Content: &empty}, nil))
	for _, w := range t.p.words {
		if !t.sleep() {
			return
		}
		t.event("", chunk(chatMessage{Content: &w}, nil))
	}
	if !t.sleep() {
		return
	}
	stop := "stop"
	t.event("", chunk(chatMessage{}, &stop))
	if includeUsage && t.usage {
		u, _ := json.Marshal(chatUsage{t.in, t.out, t.in + t.out})
		t.event("", chatChunk{
			ID: t.chatID(), Object: "chat.completion.chunk", Created: t.created, Model: t.req.Model,
			Choices: []chatChoice{}, Usage: u,
		})
	}
	t.finish(includeUsage)
	t.event("", "[DONE]")
}

// OpenAI responses.

type respUsage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	TotalTokens  int64 `json:"total_tokens"`
}

type respPart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

type respItem struct {
	ID      string     `json:"id"`
	Type    string     `json:"type"`
	Status  string     `json:"status"`
	Role    string     `json:"role"`
	Content []respPart `json:"content"`
}

type respObject struct {
	ID        string     `json:"id"`
	Object    string     `json:"object"`
	CreatedAt int64      `json:"created_at"`
	Status    string     `json:"status"`
	Model     string     `json:"model"`
	Output    []respItem `json:"output"`
	Usage     *respUsage `json:"usage"`
}

func (t *turn) response(status string, output []respItem) respObject {
	r := respObject{
		ID: fmt.Sprintf("resp_fake%d", t.id), Object: "response", CreatedAt: t.created,
		Status: status, Model: t.req.Model, Output: output,
	}
	if status == "completed" && t.usage {
		r.Usage = &respUsage{t.in, t.out, t.in + t.out}
	}
	return r
}

func (t *turn) item(status string, text *string) respItem {
	it := respItem{ID: fmt.Sprintf("msg_fake%d", t.id), Type: "message", Status: status, Role: "assistant", Content: []respPart{}}
	if text != nil {
		it.Content = []respPart{{Type: "output_text", Text: *text, Annotations: []any{}}}
	}
	return it
}

func (t *turn) responsesReply() any {
	text := t.reply()
	return t.response("completed", []respItem{t.item("completed", &text)})
}

// revent writes a Responses event: its type is both the SSE event name
// and the data's "type", with a sequence number.
func (t *turn) revent(typ string, fields map[string]any) {
	fields["type"] = typ
	fields["sequence_number"] = t.seq
	t.seq++
	t.event(typ, fields)
}

func (t *turn) responsesStream() {
	itemID := fmt.Sprintf("msg_fake%d", t.id)
	text := t.reply()
	t.revent("response.created", map[string]any{"response": t.response("in_progress", []respItem{})})
	t.revent("response.output_item.added", map[string]any{"output_index": 0, "item": t.item("in_progress", nil)})
	t.revent("response.content_part.added", map[string]any{"item_id": itemID, "output_index": 0, "content_index": 0,
		"part": respPart{Type: "output_text", Annotations: []any{}}})
	for _, w := range t.p.words {
		if !t.sleep() {
			return
		}
		t.revent("response.output_text.delta", map[string]any{"item_id": itemID, "output_index": 0, "content_index": 0, "delta": w})
	}
	if !t.sleep() {
		return
	}
	t.revent("response.output_text.done", map[string]any{"item_id": itemID, "output_index": 0, "content_index": 0, "text": text})
	t.revent("response.content_part.done", map[string]any{"item_id": itemID, "output_index": 0, "content_index": 0,
		"part": respPart{Type: "output_text", Text: text, Annotations: []any{}}})
	done := t.item("completed", &text)
	t.revent("response.output_item.done", map[string]any{"output_index": 0, "item": done})
	t.finish(true)
	t.revent("response.completed", map[string]any{"response": t.response("completed", []respItem{done})})
}

// Anthropic messages.

type msgUsage struct {
	InputTokens              int64  `json:"input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens,omitempty"`
	OutputTokens             int64  `json:"output_tokens"`
}

type msgBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type msgObject struct {
	ID           string     `json:"id"`
	Type         string     `json:"type"`
	Role         string     `json:"role"`
	Model        string     `json:"model"`
	Content      []msgBlock `json:"content"`
	StopReason   *string    `json:"stop_reason"`
	StopSequence *string    `json:"stop_sequence"`
	Usage        *msgUsage  `json:"usage,omitempty"`
}

// msgUsage splits the input as a cached prompt would be for fake-cache:
// two tokens written to the cache, one read from it.
func (t *turn) msgUsage(out int64) *msgUsage {
	if !t.usage {
		return nil
	}
	u := &msgUsage{InputTokens: t.in, OutputTokens: out}
	if t.cache && t.in > 3 {
		created, read := int64(2), int64(1)
		u.InputTokens -= created + read
		u.CacheCreationInputTokens, u.CacheReadInputTokens = &created, &read
	}
	return u
}

func (t *turn) message(content []msgBlock, stop *string, out int64) msgObject {
	return msgObject{
		ID: fmt.Sprintf("msg_fake%d", t.id), Type: "message", Role: "assistant", Model: t.req.Model,
		Content: content, StopReason: stop, Usage: t.msgUsage(out),
	}
}

func (t *turn) messagesReply() any {
	stop := "end_turn"
	return t.message([]msgBlock{{Type: "text", Text: t.reply()}}, &stop, t.out)
}

func (t *turn) messagesStream() {
	t.event("message_start", map[string]any{"type": "message_start", "message": t.message([]msgBlock{}, nil, 1)})
	t.event("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": msgBlock{Type: "text"}})
	t.event("ping", map[string]any{"type": "ping"})
	for _, w := range t.p.words {
		if !t.sleep() {
			return
		}
		t.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]string{"type": "text_delta", "text": w}})
	}
	if !t.sleep() {
		return
	}
	t.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	delta := map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil}}
	if t.usage {
		delta["usage"] = map[string]int64{"output_tokens": t.out}
	}
	t.event("message_delta", delta)
	t.finish(true)
	t.event("message_stop", map[string]any{"type": "message_stop"})
}
