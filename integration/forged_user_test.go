package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	fetchOnce  sync.Once
	fetchImage string
	fetchErr   error
)

// fetchHelper builds clawd-it-fetch:latest, an image of nothing but the
// static testdata/fetch client, once per run.
func fetchHelper(t *testing.T) string {
	t.Helper()
	fetchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "clawd-it-fetch-")
		if err != nil {
			fetchErr = err
			return
		}
		defer os.RemoveAll(dir)
		build := exec.Command("go", "build", "-o", filepath.Join(dir, "fetch"), "./integration/testdata/fetch")
		build.Dir, build.Env = repoRoot, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fetchErr = &buildError{"go build fetch", err, out}
			return
		}
		df := "FROM scratch\nCOPY fetch /fetch\nENTRYPOINT [\"/fetch\"]\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			fetchErr = err
			return
		}
		if out, err := exec.Command("docker", "build", "-q", "-t", "clawd-it-fetch:latest", dir).CombinedOutput(); err != nil {
			fetchErr = &buildError{"docker build clawd-it-fetch", err, out}
			return
		}
		fetchImage = "clawd-it-fetch:latest"
	})
	if fetchErr != nil {
		t.Fatal(fetchErr)
	}
	return fetchImage
}

type buildError struct {
	what string
	err  error
	out  []byte
}

func (e *buildError) Error() string { return e.what + ": " + e.err.Error() + ": " + string(e.out) }

// fromInside GETs path on the gateway container id from within its network
// namespace (its own address, as a tool inside it would), claiming to be
// user, and returns the status code.
func fromInside(t *testing.T, id, addr, path, user string) string {
	t.Helper()
	out, err := exec.Command("docker", "run", "--rm", "--network", "container:"+id, fetchHelper(t),
		"http://"+addr+path, "X-Clawd-User: "+user).CombinedOutput()
	if err != nil {
		t.Fatalf("fetch from inside %s: %v: %s", id, err, out)
	}
	return strings.TrimSpace(string(out))
}

// trustedProxies reads gateway.trustedProxies from a gateway's openclaw.json.
func trustedProxies(t *testing.T, id string) []string {
	t.Helper()
	var cfg struct {
		Gateway struct {
			TrustedProxies []string `json:"trustedProxies"`
		} `json:"gateway"`
	}
	raw := gatewayFile(t, id, "/home/node/.openclaw/openclaw.json")
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("openclaw.json: %v\n%s", err, raw)
	}
	return cfg.Gateway.TrustedProxies
}

// A gateway trusts only the router's address on its network to say who is
// calling, whether it was cold-started or adopted from the warm pool: a tool
// inside it that names a user is anonymous. An adopted spare trusts that
// address from its first start, so the adoption changes nothing OpenClaw
// would drop connections for.
func TestForgedUserFromInsideAGatewayIsAnonymous(t *testing.T) {
	d := startDaemon(t, "--warmpool.size=1")
	eventually(t, time.Minute, "a ready spare", func() bool { return d.poolReady() == 1 })
	spares := dockerLines(t, "ps", "-q", "--filter", "label=io.clawd.cluster="+d.cluster, "--filter", "label=io.clawd.spare")
	if len(spares) != 1 {
		t.Fatalf("spares %v, want one", spares)
	}
	spareTrusts := trustedProxies(t, spares[0])

	d.mustClawd("namespace", "create", "warm", "--hostname=warm.localhost")
	d.mustClawd("namespace", "create", "cold", "--hostname=cold.localhost", "--warmup-on-create=false")
	for _, ns := range []string{"warm", "cold"} {
		t.Run(ns, func(t *testing.T) {
			v := d.waitPhase(ns, "Running", time.Minute)
			id := v.Status.ContainerID
			adopted := dockerInspect(t, `{{index .Config.Labels "io.clawd.spare"}}`, id) != ""
			if adopted != (ns == "warm") {
				t.Fatalf("adopted a spare: %t", adopted)
			}
			router := dockerInspect(t, "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}", id)
			// Written before the gateway counts as Running.
			if got := trustedProxies(t, id); !slices.Equal(got, []string{router}) {
				t.Errorf("the gateway trusts %v, want only the router's address %s", got, router)
			}
			if adopted && !slices.Equal(spareTrusts, []string{router}) {
				t.Errorf("the spare booted trusting %v, its namespace's gateway trusts %s: the adoption changed the trusted proxies", spareTrusts, router)
			}
			if code, body := d.viaRouter(ns+".localhost", "/v1/models"); code != 200 {
				t.Errorf("GET /v1/models through the router: %d %s", code, body)
			}
			if code := fromInside(t, id, v.Status.Address, "/v1/models", "admin"); code != "401" {
				t.Errorf("GET /v1/models from inside the gateway naming a user: %s, want 401 (anonymous)", code)
			}
		})
	}
}
