package modelgw

import (
	"bytes"
	"encoding/json"
	"errors"
)

// A tenant's request body holds the whole conversation (hundreds of KB
// late in a session) and the gateway needs three of its top-level members.
// encoding/json would walk every byte through its state machine before the
// first byte goes upstream; the scanner below finds the members with
// memchr over string contents, which is most of the body, so a large
// request costs microseconds, not a millisecond of time to first token.
//
// It is lenient about what it skips (numbers and literals are not checked):
// the provider parses the body strictly and refuses what is not JSON. It is
// strict where a lenient reading could let the gateway and the provider see
// different models: keys are compared after unescaping, exactly (not
// case-folded as encoding/json does), and a repeated member the gateway
// reads is refused rather than guessed at.

var errSyntax = errors.New("request body is not a JSON object")

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index of the quote closing the string whose
// contents start at start, or -1 when the string does not end.
func stringEnd(b []byte, start int) int {
	for i := start; ; {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		j += i
		// The quote is escaped only by an odd run of backslashes before it.
		k := j
		for k > start && b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return j
		}
		i = j + 1
	}
}

// skipValue returns the index just past the JSON value starting at i.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch b[i] {
	case '"':
		end := stringEnd(b, i+1)
		if end < 0 {
			return 0, errSyntax
		}
		return end + 1, nil
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := stringEnd(b, j+1)
				if end < 0 {
					return 0, errSyntax
				}
				j = end
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errSyntax
	case ',', ':', '}', ']':
		return 0, errSyntax
	default:
		// A number or literal: up to the next delimiter.
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j, nil
			}
			j++
		}
		return j, nil
	}
}

// member is a top-level member's value: its bytes and where they sit in
// the body, so a rewrite can splice a new value in without re-encoding the
// rest.
type member struct {
	raw        []byte
	start, end int
}

// topLevel finds the members of the JSON object in b named by keys; want
// maps each to a slot. A member present twice is an error.
func topLevel(b []byte, want map[string]*member) (open int, err error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0, errSyntax
	}
	open = i
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return open, trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errSyntax
		}
		end := stringEnd(b, i+1)
		if end < 0 {
			return 0, errSyntax
		}
		key := b[i+1 : end]
		if bytes.IndexByte(key, '\\') >= 0 {
			// An escaped key ("mo\u0064el") is the same key to the
			// provider, so it must be to the gateway too.
			var s string
			if json.Unmarshal(b[i:end+1], &s) != nil {
				return 0, errSyntax
			}
			key = []byte(s)
		}
		i = skipSpace(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return 0, errSyntax
		}
		i = skipSpace(b, i+1)
		vend, err := skipValue(b, i)
		if err != nil {
			return 0, err
		}
		if slot, ok := want[string(key)]; ok {
			if slot.raw != nil {
				return 0, &duplicateError{key: string(key)}
			}
			*slot = member{raw: b[i:vend], start: i, end: vend}
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return 0, errSyntax
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return open, trailing(b, i+1)
		default:
			return 0, errSyntax
		}
	}
}

// trailing refuses anything but whitespace after the object.
func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errSyntax
	}
	return nil
}

// duplicateError is a request naming a member the gateway reads twice.
type duplicateError struct{ key string }

func (e *duplicateError) Error() string {
	return "request body has more than one \"" + e.key + "\" member"
}

// textKeys picks the members whose string values are text a model reads
// or writes, for estimating tokens when a provider reports none.
type textKeys func(key []byte) bool

// inputText are the request members holding prompt text in the three
// shapes: chat messages' content, content parts' text, the Responses
// API's input and instructions, Anthropic's system.
func inputText(key []byte) bool {
	switch string(key) {
	case "content", "text", "input", "instructions", "system", "arguments":
		return true
	}
	return false
}

// outputText are the reply members holding generated text: message
// content, text parts and deltas, tool-call arguments, reasoning.
func outputText(key []byte) bool {
	switch string(key) {
	case "content", "text", "delta", "arguments", "partial_json", "thinking", "refusal", "reasoning_content":
		return true
	}
	return false
}

// textLen sums the lengths (in bytes, escapes as written) of the string
// values of the members keys picks, anywhere in b. It is a byte scan, not a
// parse: cheap enough to run on every streamed event, and it needs no valid
// JSON (a truncated reply still counts what arrived).
func textLen(b []byte, keys textKeys) int64 {
	var (
		n           int64
		key         []byte
		expectValue bool // the previous token was a ':'
	)
	for i := 0; i < len(b); {
		c := b[i]
		if c != '"' {
			if c == ':' {
				expectValue = true
			} else if c > ' ' {
				expectValue = false
			}
			i++
			continue
		}
		end := stringEnd(b, i+1)
		if end < 0 {
			end = len(b)
		}
		s := b[i+1 : end]
		i = end + 1
		if expectValue {
			if key != nil && keys(key) {
				n += int64(len(s))
			}
			expectValue, key = false, nil
			continue
		}
		// A string not after a colon is a key (or an array element, which
		// a following string overwrites before any colon).
		key = s
	}
	return n
}

// estimateTokens is the usual rough figure of about four bytes of English
// text per token, rounded up.
func estimateTokens(chars int64) int64 {
	return (chars + 3) / 4
}
