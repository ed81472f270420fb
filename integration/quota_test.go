package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type quotaLine struct {
	Limit     int64  `json:"limit"`
	Used      *int64 `json:"used"`
	Remaining *int64 `json:"remaining"`
	Enforced  bool   `json:"enforced"`
}

func (d *daemon) quotas(ns string) map[string]quotaLine {
	d.t.Helper()
	var qs struct {
		Quotas map[string]quotaLine `json:"quotas"`
	}
	out := d.mustClawd("namespace", "quota-status", ns, "-o", "json")
	if err := json.Unmarshal([]byte(out), &qs); err != nil {
		d.t.Fatalf("quota-status: %v\n%s", err, out)
	}
	// Every namespace's at once (one read of the counts) says the same.
	type status struct {
		Namespace string               `json:"namespace"`
		Quotas    map[string]quotaLine `json:"quotas"`
	}
	var all []status
	out = d.mustClawd("namespace", "quota-status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		d.t.Fatalf("quota-status of every namespace: %v\n%s", err, out)
	}
	i := slices.IndexFunc(all, func(e status) bool { return e.Namespace == ns })
	if i < 0 {
		d.t.Fatalf("quota-status of every namespace lacks %s:\n%s", ns, out)
	}
	// What a volume uses moves while its gateway writes: storage lines
	// are compared by limit only.
	same := func(m map[string]quotaLine) map[string]quotaLine {
		out := map[string]quotaLine{}
		for k, l := range m {
			if strings.HasPrefix(k, "storage.") {
				l.Used, l.Remaining = nil, nil
			}
			out[k] = l
		}
		return out
	}
	one, _ := json.Marshal(same(qs.Quotas))
	bulk, _ := json.Marshal(same(all[i].Quotas))
	if string(one) != string(bulk) {
		d.t.Errorf("quota-status of %s alone and of every namespace differ:\n%s\n%s", ns, one, bulk)
	}
	return qs.Quotas
}

// writeQuota writes a quota file for a test.
func writeQuota(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "quota.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The guide's quota files apply verbatim; a bad one changes nothing; the
// token quota stops calls at the model gateway before they reach the
// provider, also fifty at once.
func TestQuotas(t *testing.T) {
	fp, fakeURL := startFakeProvider(t)
	d := startDaemon(t)
	d.addProvider("openai", "openai-completions", fakeURL+"/v1", fakeProviderKey, "gpt-4o")
	d.mustClawd("config", "set", "namespaces.*.models.primary", "gpt-4o")

	t.Run("the guide's files", func(t *testing.T) {
		for _, ns := range []string{"tenant-a", "tenant-b"} {
			d.mustClawd("namespace", "create", ns, "--wait=false")
			d.mustClawd("namespace", "apply-quota", ns, "--from=../configs/"+ns+"-quota.yaml")
		}
		q := d.quotas("tenant-a")
		for key, want := range map[string]int64{
			"compute.cpu": 4000, "compute.memory": 8 << 30, "storage.skills": 1 << 30, "storage.data": 10 << 30,
			"api.requestsPerHour": 10000, "api.tokensPerDay": 1000000, "skills.maxInstalled": 50, "skills.maxConcurrent": 10,
			"models.maxCallsPerDay.gpt-4o": 1000, "models.maxCallsPerDay.claude-3.5-sonnet": 500,
		} {
			if q[key].Limit != want {
				t.Errorf("tenant-a %s = %+v, want limit %d", key, q[key], want)
			}
		}
		if l := q["api.tokensPerDay"]; !l.Enforced || l.Used == nil || *l.Used != 0 || *l.Remaining != 1000000 {
			t.Errorf("tenant-a api.tokensPerDay = %+v, want enforced, 0 used", l)
		}
		if q := d.quotas("tenant-b"); q["storage.skills"].Limit != 512<<20 || q["models.maxCallsPerDay.gpt-4o"].Limit != 200 {
			t.Errorf("tenant-b: %+v", q)
		}
		// compute.* reach the running gateway's cgroup in place: the same
		// container, not restarted (tenant-a's 4 CPUs clamp to the host's).
		before := d.waitPhase("tenant-b", "Running", time.Minute)
		started := dockerInspect(t, "{{.State.StartedAt}}", before.Status.ContainerID)
		d.mustClawd("namespace", "apply-quota", "tenant-b", "--from="+writeQuota(t, "namespace: tenant-b\nquotas:\n  compute:\n    cpu: 0.5\n    memory: 768Mi\n"))
		eventually(t, 30*time.Second, "the new caps on tenant-b's running container", func() bool {
			return dockerInspect(t, "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}", before.Status.ContainerID) == "500000000 805306368"
		})
		if now := dockerInspect(t, "{{.State.StartedAt}}", before.Status.ContainerID); now != started || d.get("tenant-b").Status.ContainerID != before.Status.ContainerID {
			t.Errorf("the quota change restarted the gateway (started %s → %s)", started, now)
		}
		// tenant-a asks for 4 CPUs: namespace get shows the cap it got.
		ncpu, err := exec.Command("docker", "info", "--format", "{{.NCPU}}").Output()
		if err != nil {
			t.Fatal(err)
		}
		host, _ := strconv.Atoi(strings.TrimSpace(string(ncpu)))
		d.waitPhase("tenant-a", "Running", time.Minute)
		var detail struct {
			CPU *struct {
				RequestedMillis, AppliedMillis int64
				HostCPUs                       int `json:"hostCpus"`
				Clamped                        bool
			} `json:"cpu"`
		}
		if err := json.Unmarshal([]byte(d.mustClawd("namespace", "get", "tenant-a", "-o", "json")), &detail); err != nil || detail.CPU == nil {
			t.Fatalf("namespace get -o json: %v, cpu %+v", err, detail.CPU)
		}
		if c := detail.CPU; c.RequestedMillis != 4000 || c.HostCPUs != host || c.Clamped != (host < 4) || c.AppliedMillis != min(4000, int64(host)*1000) {
			t.Errorf("tenant-a's cpu %+v on a %d-CPU host", *c, host)
		}
		if text := d.mustClawd("namespace", "get", "tenant-a"); host < 4 && !strings.Contains(text, fmt.Sprintf("4 (clamped to %d, the host's CPUs)", host)) {
			t.Errorf("namespace get does not show the clamp to %d CPUs:\n%s", host, text)
		}
		out := d.mustClawd("namespace", "quota-status", "tenant-a")
		for _, want := range []string{"api.tokensPerDay", "1000000", "8Gi", "UTC"} {
			if !strings.Contains(out, want) {
				t.Errorf("quota-status table lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("a bad file changes nothing", func(t *testing.T) {
		before := d.quotas("tenant-a")
		for _, c := range []struct{ file, want string }{
			{"namespace: tenant-b\nquotas: {api: {tokensPerDay: 5}}", `for namespace "tenant-b"`},
			{"namespace: tenant-a\nquotas: {api: {tokensPerDay: 5, burst: 2}}", "quotas.api.burst: unknown key"},
			{"namespace: tenant-a\nquotas: {storage: {data: -1Gi}}", "quotas.storage.data"},
			{"namespace: tenant-a\nquotas: {compute: {memory: 1Mi}}", "memory"},
		} {
			_, errOut, err := d.clawd("namespace", "apply-quota", "tenant-a", "--from="+writeQuota(t, c.file))
			if err == nil || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, c.want) {
				t.Errorf("apply-quota %q: err %v, stderr %q; want one line with %q", c.file, err, errOut, c.want)
			}
		}
		if after := d.quotas("tenant-a"); len(after) != len(before) || after["api.tokensPerDay"].Limit != 1000000 {
			t.Errorf("a refused file changed the quotas: %+v", after)
		}
	})

	t.Run("skills over maxInstalled are not started", func(t *testing.T) {
		if q := d.quotas("tenant-a"); !q["skills.maxInstalled"].Enforced || !q["skills.maxConcurrent"].Enforced {
			t.Errorf("skills quotas not shown as enforced: %+v %+v", q["skills.maxInstalled"], q["skills.maxConcurrent"])
		}
		d.mustClawd("namespace", "create", "skilled")
		id := d.waitPhase("skilled", "Running", time.Minute).Status.ContainerID
		d.mustClawd("namespace", "apply-quota", "skilled", "--from="+writeQuota(t, "namespace: skilled\nquotas:\n  skills:\n    maxInstalled: 1\n"))
		// Two skills installed in the gateway's skills volume (written
		// from the host: the stand-in has no shell).
		volume := dockerInspect(t, `{{range .Mounts}}{{if eq .Destination "/home/node/skills"}}{{.Source}}{{end}}{{end}}`, id)
		if volume == "" {
			t.Fatalf("container %s mounts no skills volume", id)
		}
		for _, skill := range []string{"weather", "github"} {
			if err := os.MkdirAll(filepath.Join(volume, skill), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(volume, skill, "SKILL.md"), []byte("---\nname: "+skill+"\n---\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		d.sleepTo("skilled", "stopped")
		d.mustClawd("namespace", "wake", "skilled", "--wait=false")
		v := d.waitPhase("skilled", "Pending", 30*time.Second)
		if want := "skills.maxInstalled is 1 and 2 skills are installed"; !strings.Contains(v.Status.Reason, want) {
			t.Errorf("reason %q, want it to say %q", v.Status.Reason, want)
		}
		d.mustClawd("namespace", "apply-quota", "skilled", "--from="+writeQuota(t, "namespace: skilled\nquotas:\n  skills:\n    maxInstalled: 2\n"))
		d.waitPhase("skilled", "Running", time.Minute)
	})

	d.mustClawd("namespace", "create", "metered", "--hostname=metered.localhost")
	t.Run("the token quota stops calls before the provider", func(t *testing.T) {
		// The fake provider reports 10 + 5 tokens a call: two calls fit
		// under 20 (the second starts at 15), the third is refused.
		d.mustClawd("namespace", "apply-quota", "metered", "--from="+writeQuota(t, "namespace: metered\nquotas:\n  api:\n    tokensPerDay: 20\n"))
		fp.Reset()
		for i := range 2 {
			if code, text := d.chat("metered.localhost", "", false); code != 200 || !strings.Contains(text, "fake provider") {
				t.Fatalf("call %d under the quota: %d %s", i+1, code, text)
			}
		}
		code, text := d.chat("metered.localhost", "", false)
		if code == 200 || !strings.Contains(text, "quota exceeded") || !strings.Contains(text, "api.tokensPerDay") {
			t.Errorf("third call: %d %s; want a refusal naming api.tokensPerDay", code, text)
		}
		if n := len(fp.Calls()); n != 2 {
			t.Errorf("the provider saw %d calls, want 2: the refused one must not pass", n)
		}
		if l := d.quotas("metered")["api.tokensPerDay"]; l.Used == nil || *l.Used != 30 || *l.Remaining != 0 {
			t.Errorf("quota-status api.tokensPerDay = %+v, want 30 used, 0 remaining", l)
		}
	})

	t.Run("fifty at once overshoot by at most one call", func(t *testing.T) {
		const limit = 300 // twenty calls' worth
		d.mustClawd("namespace", "create", "burst", "--hostname=burst.localhost")
		d.mustClawd("namespace", "apply-quota", "burst", "--from="+writeQuota(t, "namespace: burst\nquotas:\n  api:\n    tokensPerDay: "+strconv.Itoa(limit)+"\n"))
		fp.Reset()
		var wg sync.WaitGroup
		codes := make([]int, 50)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _ = d.chat("burst.localhost", "", false)
			}()
		}
		wg.Wait()
		in, out := fp.Totals()
		passed := len(fp.Calls())
		if passed == 0 || in+out > limit+15 {
			t.Errorf("%d calls passed using %d tokens; want some, and at most %d (the limit and one call)", passed, in+out, limit+15)
		}
		ok := 0
		for _, c := range codes {
			if c == 200 {
				ok++
			}
		}
		if ok != passed {
			t.Errorf("%d chats answered, the provider saw %d calls", ok, passed)
		}
		_, metrics := d.scrape(d.adminToken())
		m := regexp.MustCompile(`clawd_quota_rejections_total\{namespace="burst",quota="api.tokensPerDay"\} (\d+)`).FindStringSubmatch(metrics)
		if m == nil {
			t.Fatalf("/metrics lacks burst's rejections")
		}
		if n, _ := strconv.Atoi(m[1]); n < 50-passed {
			t.Errorf("clawd_quota_rejections_total = %d, want at least %d", n, 50-passed)
		}
		t.Logf("50 concurrent calls under tokensPerDay=%d: %d passed, %d tokens used", limit, passed, in+out)
	})
}
