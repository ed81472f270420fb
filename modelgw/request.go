package modelgw

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// request is what the gateway reads of a tenant's call.
type request struct {
	model  string
	stream bool
	// clientUsage: the client asked for the usage chunk of a chat
	// completions stream itself, so it must see it.
	clientUsage bool
	// streamOptions is the raw stream_options member, if any, and where
	// it sits, for addStreamUsage.
	streamOptions member
	open          int // index of the body's '{'
}

// parseRequest reads model, stream and stream_options from body.
func parseRequest(body []byte) (request, error) {
	var model, stream, opts member
	open, err := topLevel(body, map[string]*member{
		"model":          &model,
		"stream":         &stream,
		"stream_options": &opts,
	})
	if err != nil {
		return request{}, err
	}
	req := request{streamOptions: opts, open: open}
	if model.raw == nil {
		return req, fmt.Errorf("request body has no \"model\"")
	}
	if json.Unmarshal(model.raw, &req.model) != nil {
		return req, fmt.Errorf("\"model\" is not a string")
	}
	switch string(stream.raw) {
	case "", "null", "false":
	case "true":
		req.stream = true
	default:
		return req, fmt.Errorf("\"stream\" is not a boolean")
	}
	if opts.raw != nil && !bytes.Equal(opts.raw, []byte("null")) {
		var o struct {
			IncludeUsage bool `json:"include_usage"`
		}
		if json.Unmarshal(opts.raw, &o) != nil {
			return req, fmt.Errorf("\"stream_options\" is not an object")
		}
		req.clientUsage = o.IncludeUsage
	}
	return req, nil
}

// addStreamUsage returns body asking a chat completions stream for its
// usage chunk (stream_options.include_usage), which OpenAI sends only when
// asked and OpenClaw asks only of providers it thinks are local. It copies
// the body once; only stream_options itself is re-encoded.
func addStreamUsage(body []byte, req request) ([]byte, error) {
	const include = `{"include_usage":true}`
	so := req.streamOptions
	if so.raw == nil {
		// Absent: insert it first, so no comma rule depends on what
		// follows (the body has at least "model").
		ins := `"stream_options":` + include + `,`
		out := make([]byte, 0, len(body)+len(ins))
		out = append(out, body[:req.open+1]...)
		out = append(out, ins...)
		return append(out, body[req.open+1:]...), nil
	}
	value := []byte(include)
	if !bytes.Equal(so.raw, []byte("null")) {
		// Keep the client's other stream options.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(so.raw, &m); err != nil || m == nil {
			return nil, fmt.Errorf("\"stream_options\" is not an object")
		}
		m["include_usage"] = json.RawMessage("true")
		var err error
		if value, err = json.Marshal(m); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, len(body)-len(so.raw)+len(value))
	out = append(out, body[:so.start]...)
	out = append(out, value...)
	return append(out, body[so.end:]...), nil
}
