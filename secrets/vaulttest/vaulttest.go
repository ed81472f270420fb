// Package vaulttest is an in-process server that follows Vault's
// documented transit secrets engine HTTP API, for tests: Vault itself
// cannot be installed here. It keeps aes256-gcm96 keys in memory, with
// versions, rotation and rewrap, checks X-Vault-Token and answers errors
// as Vault does ({"errors":[…]}, 403 for a bad token, 400 for a missing
// key on crypto endpoints, 404 when reading a missing key).
//
// Endpoints (https://developer.hashicorp.com/vault/api-docs/secret/transit):
//
//	POST /v1/<mount>/keys/<name>            create
//	GET  /v1/<mount>/keys/<name>            read (latest_version, keys)
//	POST /v1/<mount>/keys/<name>/rotate     new version
//	POST /v1/<mount>/datakey/<plaintext|wrapped>/<name>
//	POST /v1/<mount>/encrypt/<name>, decrypt/<name>, rewrap/<name>
package vaulttest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a transit engine mounted at one path.
type Server struct {
	Mount string
	Token string

	mu    sync.Mutex
	keys  map[string][]cipher.AEAD // version v at [v-1]
	calls map[string]int
}

// New returns a server for mount with the token it accepts.
func New(mount, token string) *Server {
	return &Server{Mount: mount, Token: token, keys: map[string][]cipher.AEAD{}, calls: map[string]int{}}
}

// Start serves on a loopback port until the test ends.
func (s *Server) Start(t interface{ Cleanup(func()) }) *httptest.Server {
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return hs
}

// CreateKey makes a key of one version, as `vault write -f transit/keys/NAME`.
func (s *Server) CreateKey(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[name]; !ok {
		s.keys[name] = []cipher.AEAD{newKey()}
	}
}

// RotateKey adds a version, as `vault write -f transit/keys/NAME/rotate`.
func (s *Server) RotateKey(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[name] = append(s.keys[name], newKey())
	return len(s.keys[name])
}

// Calls counts the requests of one operation ("datakey", "decrypt",
// "rewrap", "encrypt", "keys") that were answered 2xx.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func newKey() cipher.AEAD {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	block, _ := aes.NewCipher(k)
	aead, _ := cipher.NewGCM(block)
	return aead
}

func fail(w http.ResponseWriter, code int, msgs ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if msgs == nil {
		msgs = []string{}
	}
	json.NewEncoder(w).Encode(map[string]any{"errors": msgs})
}

func reply(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"request_id": strconv.FormatInt(time.Now().UnixNano(), 36), "data": data})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Vault-Token") != s.Token {
		fail(w, http.StatusForbidden, "permission denied")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/"+s.Mount+"/")
	if !ok {
		fail(w, http.StatusNotFound, "no handler for route \""+strings.TrimPrefix(r.URL.Path, "/v1/")+"\". route entry not found.")
		return
	}
	parts := strings.Split(rest, "/")
	var body struct {
		Ciphertext string `json:"ciphertext"`
		Plaintext  string `json:"plaintext"`
		Bits       int    `json:"bits"`
	}
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	op := parts[0]
	switch {
	case op == "keys" && len(parts) == 2 && r.Method == http.MethodPost:
		if _, ok := s.keys[parts[1]]; !ok {
			s.keys[parts[1]] = []cipher.AEAD{newKey()}
		}
		w.WriteHeader(http.StatusNoContent)
	case op == "keys" && len(parts) == 2 && r.Method == http.MethodGet:
		k, ok := s.keys[parts[1]]
		if !ok {
			fail(w, http.StatusNotFound)
			return
		}
		versions := map[string]int64{}
		for i := range k {
			versions[strconv.Itoa(i+1)] = time.Now().Unix()
		}
		reply(w, map[string]any{"name": parts[1], "type": "aes256-gcm96", "latest_version": len(k),
			"min_decryption_version": 1, "min_encryption_version": 0, "keys": versions,
			"supports_encryption": true, "supports_decryption": true, "supports_derivation": true})
	case op == "keys" && len(parts) == 3 && parts[2] == "rotate" && r.Method == http.MethodPost:
		if _, ok := s.keys[parts[1]]; !ok {
			fail(w, http.StatusBadRequest, "encryption key not found")
			return
		}
		s.keys[parts[1]] = append(s.keys[parts[1]], newKey())
		reply(w, map[string]any{"name": parts[1], "latest_version": len(s.keys[parts[1]])})
	case op == "datakey" && len(parts) == 3 && r.Method == http.MethodPost && (parts[1] == "plaintext" || parts[1] == "wrapped"):
		k, ok := s.keys[parts[2]]
		if !ok {
			fail(w, http.StatusBadRequest, "encryption key not found")
			return
		}
		bits := body.Bits
		if bits == 0 {
			bits = 256
		}
		if bits != 128 && bits != 256 && bits != 512 {
			fail(w, http.StatusBadRequest, "invalid bit size")
			return
		}
		dek := make([]byte, bits/8)
		rand.Read(dek)
		out := map[string]any{"ciphertext": seal(k, dek), "key_version": len(k)}
		if parts[1] == "plaintext" {
			out["plaintext"] = base64.StdEncoding.EncodeToString(dek)
		}
		reply(w, out)
	case op == "encrypt" && len(parts) == 2 && r.Method == http.MethodPost:
		k, ok := s.keys[parts[1]]
		if !ok { // Vault would create it (upsert); a test wants to know
			fail(w, http.StatusBadRequest, "encryption key not found")
			return
		}
		plain, err := base64.StdEncoding.DecodeString(body.Plaintext)
		if err != nil {
			fail(w, http.StatusBadRequest, "failed to base64-decode plaintext")
			return
		}
		reply(w, map[string]any{"ciphertext": seal(k, plain), "key_version": len(k)})
	case (op == "decrypt" || op == "rewrap") && len(parts) == 2 && r.Method == http.MethodPost:
		k, ok := s.keys[parts[1]]
		if !ok {
			fail(w, http.StatusBadRequest, "encryption key not found")
			return
		}
		plain, msg := open(k, body.Ciphertext)
		if msg != "" {
			fail(w, http.StatusBadRequest, msg)
			return
		}
		if op == "decrypt" {
			reply(w, map[string]any{"plaintext": base64.StdEncoding.EncodeToString(plain)})
		} else {
			reply(w, map[string]any{"ciphertext": seal(k, plain), "key_version": len(k)})
		}
	default:
		fail(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	s.calls[op]++
}

func seal(k []cipher.AEAD, plain []byte) string {
	v := len(k)
	nonce := make([]byte, k[v-1].NonceSize())
	rand.Read(nonce)
	return "vault:v" + strconv.Itoa(v) + ":" + base64.StdEncoding.EncodeToString(k[v-1].Seal(nonce, nonce, plain, nil))
}

// open returns the plaintext or Vault's error message.
func open(k []cipher.AEAD, ct string) ([]byte, string) {
	rest, ok := strings.CutPrefix(ct, "vault:v")
	ver, payload, ok2 := strings.Cut(rest, ":")
	v, err := strconv.Atoi(ver)
	if !ok || !ok2 || err != nil {
		return nil, "invalid ciphertext: no prefix"
	}
	if v < 1 || v > len(k) {
		return nil, "invalid key version"
	}
	raw, err := base64.StdEncoding.DecodeString(payload)
	n := k[v-1].NonceSize()
	if err != nil || len(raw) < n {
		return nil, "invalid ciphertext: could not decode"
	}
	plain, err := k[v-1].Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return nil, "cipher: message authentication failed"
	}
	return plain, ""
}
