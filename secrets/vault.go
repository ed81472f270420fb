package secrets

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// VaultConfig says where Vault's transit engine is.
type VaultConfig struct {
	Address   string // http(s)://host:8200
	TokenFile string // read on every call, so an agent may renew it
	Mount     string // default "transit"
	Key       string // the transit key's name
	// HTTPClient defaults to one with a 10 s timeout.
	HTTPClient *http.Client
}

// Vault is a key source backed by Vault's transit secrets engine, over its
// documented HTTP API: datakey/plaintext makes a data key and returns it
// wrapped ("vault:v<N>:…"), decrypt unwraps it, rewrap moves it to the
// key's latest version without the data key leaving Vault, and reading
// the key gives its latest_version. Vault holds the KEK; clawd never sees it.
type Vault struct {
	cfg VaultConfig
	hc  *http.Client
}

var _ KeySource = (*Vault)(nil)

// Errors from Vault, classified so callers can say what to fix.
var (
	ErrVaultUnreachable = errors.New("vault is unreachable")
	ErrVaultDenied      = errors.New("vault refused the token")
	ErrVaultKeyNotFound = errors.New("vault transit key not found")
)

// KeySourceError is a failure of the key source itself (Vault down,
// refusing, missing the key), not of a secret: the API answers it 502 with
// its message, the operator's to act on.
type KeySourceError struct {
	Source string
	Err    error
}

func (e *KeySourceError) Error() string { return e.Err.Error() }
func (e *KeySourceError) Unwrap() error { return e.Err }

// NewVault checks the configuration (not Vault itself: see Current).
func NewVault(cfg VaultConfig) (*Vault, error) {
	u, err := url.Parse(cfg.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid --vault.address %q: use Vault's URL, e.g. https://vault:8200", cfg.Address)
	}
	if cfg.TokenFile == "" {
		return nil, errors.New("--vault.tokenFile is required with --secrets.keySource=vault (a file holding the Vault token)")
	}
	if cfg.Key == "" {
		return nil, errors.New("--vault.key is required with --secrets.keySource=vault (the transit key's name)")
	}
	if cfg.Mount == "" {
		cfg.Mount = "transit"
	}
	cfg.Mount = strings.Trim(cfg.Mount, "/")
	cfg.Address = strings.TrimRight(cfg.Address, "/")
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Vault{cfg: cfg, hc: hc}, nil
}

func (v *Vault) Name() string { return SourceVault }

func (v *Vault) token() (string, error) {
	raw, err := os.ReadFile(v.cfg.TokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the Vault token (--vault.tokenFile): %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	if tok == "" {
		return "", fmt.Errorf("vault token file %s is empty", v.cfg.TokenFile)
	}
	return tok, nil
}

// call sends one transit request and decodes its "data".
func (v *Vault) call(ctx context.Context, method, op string, body, out any) error {
	if err := v.do(ctx, method, op, body, out); err != nil {
		return &KeySourceError{Source: SourceVault, Err: err}
	}
	return nil
}

func (v *Vault) do(ctx context.Context, method, op string, body, out any) error {
	tok, err := v.token()
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := v.cfg.Address + "/v1/" + v.cfg.Mount + "/" + op
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s: %v (check --vault.address)", ErrVaultUnreachable, v.cfg.Address, rootCause(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w at %s: reading its answer: %v", ErrVaultUnreachable, v.cfg.Address, err)
	}
	if resp.StatusCode/100 != 2 {
		return v.failure(resp.StatusCode, raw)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || len(env.Data) == 0 {
		return fmt.Errorf("vault %s: answer has no data (is %s Vault?)", op, v.cfg.Address)
	}
	return json.Unmarshal(env.Data, out)
}

// failure turns Vault's {"errors":[…]} into one classified error.
func (v *Vault) failure(code int, raw []byte) error {
	var e struct {
		Errors []string `json:"errors"`
	}
	_ = json.Unmarshal(raw, &e)
	msg := strings.Join(e.Errors, "; ")
	if msg == "" {
		msg = http.StatusText(code)
	}
	switch {
	case code == http.StatusForbidden:
		return fmt.Errorf("%w in %s (%s): check the token and that its policy allows %s/datakey, decrypt, rewrap and keys/%s", ErrVaultDenied, v.cfg.TokenFile, msg, v.cfg.Mount, v.cfg.Key)
	case code == http.StatusNotFound || strings.Contains(msg, "not found"):
		return fmt.Errorf("%w: %q on mount %q (%s); create it with: vault write -f %s/keys/%s", ErrVaultKeyNotFound, v.cfg.Key, v.cfg.Mount, msg, v.cfg.Mount, v.cfg.Key)
	}
	return fmt.Errorf("vault answered %d: %s", code, msg)
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func (v *Vault) NewDataKey(ctx context.Context) ([]byte, []byte, int, error) {
	var out struct {
		Plaintext  string `json:"plaintext"`
		Ciphertext string `json:"ciphertext"`
	}
	if err := v.call(ctx, http.MethodPost, "datakey/plaintext/"+url.PathEscape(v.cfg.Key), map[string]any{"bits": 256}, &out); err != nil {
		return nil, nil, 0, fmt.Errorf("vault datakey: %w", err)
	}
	dek, err := base64.StdEncoding.DecodeString(out.Plaintext)
	if err != nil || len(dek) != KeySize {
		return nil, nil, 0, fmt.Errorf("vault datakey: plaintext is not a %d-byte key", KeySize)
	}
	wrapped, ver, err := parseVaultCiphertext(out.Ciphertext)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("vault datakey: %w", err)
	}
	return dek, wrapped, ver, nil
}

func (v *Vault) Unwrap(ctx context.Context, wrapped []byte, version int) ([]byte, error) {
	var out struct {
		Plaintext string `json:"plaintext"`
	}
	if err := v.call(ctx, http.MethodPost, "decrypt/"+url.PathEscape(v.cfg.Key), map[string]any{"ciphertext": vaultCiphertext(wrapped, version)}, &out); err != nil {
		return nil, fmt.Errorf("vault decrypt: %w", err)
	}
	dek, err := base64.StdEncoding.DecodeString(out.Plaintext)
	if err != nil || len(dek) != KeySize {
		return nil, fmt.Errorf("vault decrypt: plaintext is not a %d-byte key", KeySize)
	}
	return dek, nil
}

func (v *Vault) Rewrap(ctx context.Context, wrapped []byte, version int) ([]byte, int, error) {
	var out struct {
		Ciphertext string `json:"ciphertext"`
	}
	if err := v.call(ctx, http.MethodPost, "rewrap/"+url.PathEscape(v.cfg.Key), map[string]any{"ciphertext": vaultCiphertext(wrapped, version)}, &out); err != nil {
		return nil, 0, fmt.Errorf("vault rewrap: %w", err)
	}
	w, ver, err := parseVaultCiphertext(out.Ciphertext)
	if err != nil {
		return nil, 0, fmt.Errorf("vault rewrap: %w", err)
	}
	return w, ver, nil
}

// Current reads the key (GET <mount>/keys/<key>) for its latest_version;
// `clawd up` calls it first, so a wrong address, token or key name stops
// the start with one line.
func (v *Vault) Current(ctx context.Context) (int, error) {
	var out struct {
		LatestVersion int `json:"latest_version"`
	}
	if err := v.call(ctx, http.MethodGet, "keys/"+url.PathEscape(v.cfg.Key), nil, &out); err != nil {
		return 0, fmt.Errorf("vault key %s: %w", v.cfg.Key, err)
	}
	if out.LatestVersion < 1 {
		return 0, fmt.Errorf("vault key %s: no latest_version in its answer", v.cfg.Key)
	}
	return out.LatestVersion, nil
}

func vaultCiphertext(wrapped []byte, version int) string {
	return "vault:v" + strconv.Itoa(version) + ":" + base64.StdEncoding.EncodeToString(wrapped)
}

func parseVaultCiphertext(s string) ([]byte, int, error) {
	rest, ok := strings.CutPrefix(s, "vault:v")
	ver, payload, ok2 := strings.Cut(rest, ":")
	v, err := strconv.Atoi(ver)
	if !ok || !ok2 || err != nil || v < 1 {
		return nil, 0, fmt.Errorf("ciphertext %.20q… is not vault:v<N>:…", s)
	}
	b, err := base64.StdEncoding.DecodeString(payload)
	if err != nil || len(b) == 0 {
		return nil, 0, errors.New("ciphertext payload is not base64")
	}
	return b, v, nil
}
