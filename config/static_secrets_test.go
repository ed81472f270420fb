package config

import (
	"strings"
	"testing"
)

func TestSecretsKeySourceFlags(t *testing.T) {
	s, err := LoadStatic([]string{"--secrets.keysource=vault", "--vault.address=https://vault:8200", "--vault.tokenfile=/run/vault-token", "--vault.key=clawd"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Secrets.KeySource != "vault" || s.Vault.Address != "https://vault:8200" || s.Vault.TokenFile != "/run/vault-token" || s.Vault.Key != "clawd" || s.Vault.Mount != "transit" {
		t.Errorf("decoded %+v %+v", s.Secrets, s.Vault)
	}
	if s, err := LoadStatic(nil, []string{"CLAWD_VAULT_MOUNT=kms", "CLAWD_SECRETS_KEYSOURCE=env"}); err != nil || s.Vault.Mount != "kms" || s.Secrets.KeySource != "env" {
		t.Errorf("from the environment: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--secrets.keysource=kms"}, "use file, env or vault"},
		{[]string{"--secrets.keysource=vault", "--vault.address=https://v"}, "needs --vault.address, --vault.tokenfile and --vault.key"},
	} {
		if _, err := LoadStatic(tc.args, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
