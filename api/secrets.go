package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/secrets"
)

// SecretKeys rotates and counts the stored secrets (secrets.Keeper).
type SecretKeys interface {
	Rotate(ctx context.Context) (secrets.RotateReport, error)
	Status(ctx context.Context) (secrets.Status, error)
}

var (
	_ SecretKeys = secrets.Keeper{}
	_ Sealer     = (*secrets.Box)(nil)
)

func (s *Server) routeSecrets() {
	s.handle("GET /api/v1/secrets/status", s.secretsStatus)
	s.handle("POST /api/v1/secrets/rotate", s.secretsRotate)
}

func (s *Server) secretKeys() (SecretKeys, error) {
	if s.cfg.SecretKeys == nil {
		return nil, conflict{errors.New("this server keeps no secrets")}
	}
	return s.cfg.SecretKeys, nil
}

func (s *Server) secretsStatus(r *http.Request) (int, any, error) {
	k, err := s.secretKeys()
	if err != nil {
		return 0, nil, err
	}
	st, err := k.Status(r.Context())
	if err != nil {
		return 0, nil, fmt.Errorf("secrets status: %w", err)
	}
	return http.StatusOK, st, nil
}

func (s *Server) secretsRotate(r *http.Request) (int, any, error) {
	k, err := s.secretKeys()
	if err != nil {
		return 0, nil, err
	}
	noteAudit(r, "", "secrets")
	rep, err := k.Rotate(r.Context())
	if err != nil {
		return 0, nil, fmt.Errorf("rotating secrets: %w", err)
	}
	s.log.Info("secrets rotated", "source", rep.Source, "version", rep.Version, "new_version", rep.NewVersion,
		"rewrapped", rep.Counts[secrets.Rewrapped], "upgraded", rep.Counts[secrets.Upgraded], "resealed", rep.Counts[secrets.Resealed],
		"unchanged", rep.Counts[secrets.Unchanged], "failed", len(rep.Failed))
	return http.StatusOK, rep, nil
}

// sealSecret is the one way the API seals a secret it stores: under a new
// data key, with the namespace's encryption.algorithm when the secret
// belongs to one (ns "" : clawd's own, AES-256-GCM).
func (s *Server) sealSecret(ctx context.Context, ns, what string, plain []byte, context string) (string, error) {
	alg := secrets.AES256GCM
	if ns != "" {
		values, err := s.st.ListConfig(ctx)
		if err != nil {
			return "", err
		}
		if v, ok := config.Effective(values, ns, "encryption.algorithm"); ok {
			alg = v
		}
	}
	sealed, err := s.cfg.Secrets.SealWith(ctx, alg, plain, context)
	if err != nil {
		return "", fmt.Errorf("sealing the %s: %w", what, err)
	}
	return sealed, nil
}

// secretsSnapshot is the audit record's before and after of a rotation:
// the key version and the secrets by format, never a secret.
func (s *Server) secretsSnapshot(ctx context.Context) string {
	if s.cfg.SecretKeys == nil {
		return ""
	}
	st, err := s.cfg.SecretKeys.Status(ctx)
	if err != nil {
		return ""
	}
	b, _ := json.Marshal(struct {
		Source  string         `json:"source"`
		Version int            `json:"version"`
		Formats map[string]int `json:"formats"`
	}{st.Source, st.Version, st.Formats})
	return string(b)
}
