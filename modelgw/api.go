package modelgw

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// API is a provider's wire shape, as OpenClaw names it.
type API string

// The shapes the gateway forwards. OpenClaw knows more (google, ollama);
// they are not offered until the gateway can count their tokens.
const (
	OpenAICompletions API = "openai-completions"
	OpenAIResponses   API = "openai-responses"
	AnthropicMessages API = "anthropic-messages"
)

// Valid reports whether a is a shape the gateway forwards.
func (a API) Valid() bool {
	switch a {
	case OpenAICompletions, OpenAIResponses, AnthropicMessages:
		return true
	}
	return false
}

// endpoint is the one path (below the provider's base URL) a client of a
// calls with POST: what OpenAI's and Anthropic's SDKs append to their base
// URL, which for Anthropic has no /v1.
func (a API) endpoint() string {
	switch a {
	case OpenAICompletions:
		return "chat/completions"
	case OpenAIResponses:
		return "responses"
	case AnthropicMessages:
		return "v1/messages"
	}
	return ""
}

// modelsPath is where a's clients list models (GET), answered locally.
func (a API) modelsPath() string {
	if a == AnthropicMessages {
		return "v1/models"
	}
	return "models"
}

// anthropic reports whether a speaks Anthropic's error and list shapes;
// everything else speaks OpenAI's.
func (a API) anthropic() bool { return a == AnthropicMessages }

// Error kinds, named for what a client does with them; each shape spells
// them its own way (see writeError).
type errKind int

const (
	errAuth errKind = iota
	errNotFound
	errInvalid
	errModel
	errTooLarge
	errUnreachable
	errQuota
)

// openAIError and anthropicError are the providers' documented error
// bodies: an unmodified SDK in the tenant's gateway must parse ours the way
// it parses the provider's, or OpenClaw shows a confusing message.
type openAIError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	} `json:"error"`
}

type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers in the error shape of an (anthropic or OpenAI's).
func writeError(w http.ResponseWriter, anthropic bool, status int, kind errKind, msg string) {
	var body any
	if anthropic {
		var e anthropicError
		e.Type = "error"
		e.Error.Message = msg
		switch kind {
		case errAuth:
			e.Error.Type = "authentication_error"
		case errNotFound:
			e.Error.Type = "not_found_error"
		case errTooLarge:
			e.Error.Type = "request_too_large"
		case errUnreachable:
			e.Error.Type = "api_error"
		case errQuota:
			e.Error.Type = "rate_limit_error"
		default:
			e.Error.Type = "invalid_request_error"
		}
		body = e
	} else {
		var e openAIError
		e.Error.Message = msg
		e.Error.Type = "invalid_request_error"
		switch kind {
		case errAuth:
			e.Error.Code = "invalid_api_key"
		case errNotFound:
			e.Error.Code = "not_found"
		case errModel:
			e.Error.Code = "model_not_found"
		case errTooLarge:
			e.Error.Code = "request_too_large"
		case errUnreachable:
			e.Error.Type = "api_error"
			e.Error.Code = "provider_unreachable"
		case errQuota:
			// Not "insufficient_quota": OpenClaw reads that as billing and
			// sets the provider aside for minutes.
			e.Error.Type = "quota_exceeded"
			e.Error.Code = "quota_exceeded"
		default:
			e.Error.Code = "invalid_request"
		}
		body = e
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeModels answers a client's model listing from the provider's
// configured models, in the provider's list shape: the upstream is not
// asked, since the tenant may use only what clawd offers.
func writeModels(w http.ResponseWriter, up Upstream) {
	var body any
	if up.API.anthropic() {
		type model struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
			CreatedAt   string `json:"created_at"`
		}
		list := struct {
			Data    []model `json:"data"`
			HasMore bool    `json:"has_more"`
			FirstID *string `json:"first_id"`
			LastID  *string `json:"last_id"`
		}{Data: make([]model, 0, len(up.Models))}
		epoch := time.Unix(0, 0).UTC().Format(time.RFC3339)
		for _, m := range up.Models {
			list.Data = append(list.Data, model{Type: "model", ID: m, DisplayName: m, CreatedAt: epoch})
		}
		if n := len(up.Models); n > 0 {
			list.FirstID, list.LastID = &up.Models[0], &up.Models[n-1]
		}
		body = list
	} else {
		type model struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		list := struct {
			Object string  `json:"object"`
			Data   []model `json:"data"`
		}{Object: "list", Data: make([]model, 0, len(up.Models))}
		for _, m := range up.Models {
			list.Data = append(list.Data, model{ID: m, Object: "model", OwnedBy: up.Name})
		}
		body = list
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
