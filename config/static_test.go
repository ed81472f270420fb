package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadStaticPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clawd.yaml")
	os.WriteFile(file, []byte("dataDir: /from/file\nrouter:\n  address: \":81\"\napi:\n  address: \"127.0.0.1:1\"\n"), 0o600)
	env := []string{"CLAWD_ROUTER_ADDRESS=:82", "CLAWD_ADDR=http://ignored", "CLAWD_TOKEN=x"}
	s, err := LoadStatic([]string{"--configfile", file, "--api.address=127.0.0.1:3", "--supervisor.backoffmax", "5s"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if s.DataDir != "/from/file" || s.Router.Address != ":82" || s.API.Address != "127.0.0.1:3" {
		t.Fatalf("got datadir %q router %q api %q", s.DataDir, s.Router.Address, s.API.Address)
	}
	if time.Duration(s.Supervisor.BackoffMax) != 5*time.Second || s.Gateway.Port != 18789 {
		t.Fatalf("flag or default lost: %+v %+v", s.Supervisor, s.Gateway)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	s, err := LoadStatic([]string{"--configfile=../configs/clawd.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Gateway.ReadyPath != "/readyz" || s.Log.Format != "json" {
		t.Fatalf("example not applied: %+v %+v", s.Gateway, s.Log)
	}
}

func TestLoadStaticRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown flag", []string{"--routr.address=:1"}, nil, `unknown option "routr"`},
		{"unknown nested flag", []string{"--router.adress=:1"}, nil, `unknown option "adress"`},
		{"unknown top key in file", []string{"--configfile=" + write("a.yaml", "bogus: 1\n")}, nil, `unknown key "bogus"`},
		{"unknown nested key in file", []string{"--configfile=" + write("b.yaml", "router:\n  bogus: 1\n")}, nil, `unknown option "bogus"`},
		{"json file", []string{"--configfile=" + write("c.json", "{}")}, nil, "unsupported extension"},
		{"bad env", nil, []string{"CLAWD_ROUTER_BOGUS=1"}, `unknown option "bogus"`},
		{"bad port", []string{"--gateway.port=0"}, nil, "--gateway.port"},
		{"bad duration", []string{"--supervisor.starttimeout=soon"}, nil, "flags"},
		{"configfile without value", []string{"--configfile"}, nil, "needs a file path"},
		{"zero read-header timeout", []string{"--router.readheadertimeout=0s"}, nil, "--router.readheadertimeout"},
		{"zero response-head timeout", []string{"--router.responseheadertimeout=0s"}, nil, "--router.responseheadertimeout"},
		{"zero handshake timeout", []string{"--router.wshandshaketimeout=0s"}, nil, "--router.wshandshaketimeout"},
		{"tiny header limit", []string{"--router.maxheaderbytes=100"}, nil, "--router.maxheaderbytes"},
		{"stripe base with a path", []string{"--billing.stripe.apiBase=http://127.0.0.1:12111/v1"}, nil, "--billing.stripe.apibase"},
		{"stripe base without scheme", []string{"--billing.stripe.apiBase=127.0.0.1:12111"}, nil, "--billing.stripe.apibase"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadStatic(tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestUpstreamTimeouts(t *testing.T) {
	s, err := LoadStatic(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(s.Router.ResponseHeaderTimeout) != 5*time.Minute || time.Duration(s.Router.WSHandshakeTimeout) != 30*time.Second {
		t.Fatalf("defaults: %v %v", time.Duration(s.Router.ResponseHeaderTimeout), time.Duration(s.Router.WSHandshakeTimeout))
	}
	s, err = LoadStatic([]string{"--router.responseHeaderTimeout=10m"}, []string{"CLAWD_ROUTER_WSHANDSHAKETIMEOUT=5s"})
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(s.Router.ResponseHeaderTimeout) != 10*time.Minute || time.Duration(s.Router.WSHandshakeTimeout) != 5*time.Second {
		t.Fatalf("set: %v %v", time.Duration(s.Router.ResponseHeaderTimeout), time.Duration(s.Router.WSHandshakeTimeout))
	}
}

func TestStripeAPIBase(t *testing.T) {
	s, err := LoadStatic(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Billing.Stripe.APIBase != DefaultStripeAPIBase {
		t.Fatalf("default %q", s.Billing.Stripe.APIBase)
	}
	s, err = LoadStatic([]string{"--billing.stripe.apiBase=http://127.0.0.1:12111"}, nil)
	if err != nil || s.Billing.Stripe.APIBase != "http://127.0.0.1:12111" {
		t.Fatalf("flag: %+v, %v", s.Billing.Stripe, err)
	}
	s, err = LoadStatic(nil, []string{"CLAWD_BILLING_STRIPE_APIBASE=http://localhost:1"})
	if err != nil || s.Billing.Stripe.APIBase != "http://localhost:1" {
		t.Fatalf("env: %+v, %v", s.Billing.Stripe, err)
	}
}
