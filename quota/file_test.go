package quota

import (
	"os"
	"strings"
	"testing"
)

func TestParseTheGuidesFiles(t *testing.T) {
	a, err := os.ReadFile("../configs/tenant-a-quota.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	want := File{Namespace: "tenant-a", CPUMillis: 4000, MemoryBytes: 8 << 30, MaxInstalled: 50, Limits: Limits{
		StorageSkills: 1 << 30, StorageData: 10 << 30, RequestsPerHour: 10000, TokensPerDay: 1000000, MaxConcurrentSkills: 10,
		CallsPerDay: map[string]int64{"gpt-4o": 1000, "claude-3.5-sonnet": 500},
	}}
	if f.Namespace != want.Namespace || f.CPUMillis != want.CPUMillis || f.MemoryBytes != want.MemoryBytes || f.MaxInstalled != want.MaxInstalled ||
		f.Limits.StorageSkills != want.Limits.StorageSkills || f.Limits.StorageData != want.Limits.StorageData ||
		f.Limits.RequestsPerHour != want.Limits.RequestsPerHour || f.Limits.TokensPerDay != want.Limits.TokensPerDay ||
		f.Limits.MaxConcurrentSkills != want.Limits.MaxConcurrentSkills || len(f.Limits.CallsPerDay) != 2 ||
		f.Limits.CallsPerDay["gpt-4o"] != 1000 || f.Limits.CallsPerDay["claude-3.5-sonnet"] != 500 {
		t.Errorf("tenant-a:\n got %+v\nwant %+v", f, want)
	}
	b, _ := os.ReadFile("../configs/tenant-b-quota.yaml")
	if f, err := Parse(b); err != nil || f.Namespace != "tenant-b" || f.Limits.StorageSkills != 512<<20 || f.Limits.CallsPerDay["gpt-4o"] != 200 {
		t.Errorf("tenant-b: %+v %v", f, err)
	}
}

func TestParseRefusesWithTheKey(t *testing.T) {
	for in, want := range map[string]string{
		"": "empty",
		"namespace: a\nquotas:\n  compute:\n    gpu: 1":                          "quotas.compute.gpu: unknown key; valid here: cpu, memory",
		"namespace: a\nquotas:\n  storage:\n    data: 10 apples":                 "quotas.storage.data",
		"namespace: a\nquotas:\n  api:\n    tokensPerDay: -5":                    "quotas.api.tokensPerDay: invalid \"-5\"",
		"namespace: a\nquotas:\n  api:\n    requestsPerHour: 1.5":                "quotas.api.requestsPerHour",
		"namespace: a\nquotas:\n  compute:\n    cpu: lots":                       "quotas.compute.cpu",
		"namespace: a\nquotas:\n  models:\n    maxCallsPerDay: 5":                "quotas.models.maxCallsPerDay: want a mapping",
		"namespace: a\nquotas:\n  models:\n    maxCallsPerDay:\n      gpt-4o: x": "quotas.models.maxCallsPerDay.gpt-4o",
		"quotas: {}":                      "namespace: is missing",
		"namespace: a\nnamespace: b":      "namespace: given twice",
		"namespace: [a]":                  "namespace: want a single value",
		"namespace: a\nextra: 1":          "extra: unknown key",
		"- 1":                             "want a mapping",
		"namespace: a\n---\nnamespace: b": "more than one",
		"namespace: a\nquotas:\n  api: {tokensPerDay:": "not YAML",
	} {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) = %v; want one line containing %q", in, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"../configs/tenant-a-quota.yaml", "../configs/tenant-b-quota.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("namespace: a\nquotas: {api: {tokensPerDay: 5}, models: {maxCallsPerDay: {x: 1}}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := Parse(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		if q.Namespace == "" || q.CPUMillis < 0 || q.MemoryBytes < 0 || q.Limits.TokensPerDay < 0 || q.Limits.RequestsPerHour < 0 {
			t.Fatalf("accepted an invalid file: %+v", q)
		}
		for m, c := range q.Limits.CallsPerDay {
			if m == "" || c < 0 {
				t.Fatalf("accepted model %q calls %d", m, c)
			}
		}
	})
}
