package config

import (
	"strings"
	"testing"
)

func TestRouterTLSOptions(t *testing.T) {
	s, err := LoadStatic(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Router.TLSAddress != ":443" || !s.Router.AccessLog || s.Router.HTTPSRedirect || s.Router.ACME == nil || s.Router.ACME.CAServer != "" || s.API.MetricsPublic {
		t.Fatalf("defaults: %+v %+v %+v", s.Router, s.Router.ACME, s.API)
	}
	s, err = LoadStatic([]string{
		"--router.tlsAddress=", "--router.certDir=/etc/clawd/certs", "--router.httpsRedirect=true",
		"--router.acme.caServer=https://127.0.0.1:14000/dir", "--router.acme.email=ops@example.com",
		"--router.acme.caRoots=/etc/clawd/pebble.pem", "--router.accessLog=false", "--api.metricsPublic",
	}, []string{"CLAWD_ROUTER_ACME_EMAIL=ignored@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Router
	if r.TLSAddress != "" || r.CertDir != "/etc/clawd/certs" || !r.HTTPSRedirect || r.AccessLog || !s.API.MetricsPublic {
		t.Fatalf("flags not applied: %+v %+v", r, s.API)
	}
	if r.ACME.CAServer != "https://127.0.0.1:14000/dir" || r.ACME.Email != "ops@example.com" || r.ACME.CARoots != "/etc/clawd/pebble.pem" {
		t.Fatalf("acme flags not applied: %+v", r.ACME)
	}
	for _, bad := range []string{"http://ca.example/dir", "ca.example/dir", "https://"} {
		if _, err := LoadStatic([]string{"--router.acme.caServer=" + bad}, nil); err == nil || !strings.Contains(err.Error(), "caserver") {
			t.Errorf("caServer %q: err %v", bad, err)
		}
	}
}
