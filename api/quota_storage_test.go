package api

import (
	"errors"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
)

type fakeVolumes struct {
	used   map[string]int64 // role → used; absent: no volume
	refuse string           // role whose resize is refused
}

func (f fakeVolumes) VolumeUsed(_, role string) (int64, bool, error) {
	n, ok := f.used[role]
	return n, ok, nil
}

func (f fakeVolumes) CheckResize(_, role string, size int64, key string) error {
	if role == f.refuse && size > 0 {
		return errors.New(key + ": refused")
	}
	return nil
}

func TestStorageQuotaLines(t *testing.T) {
	spec := namespace.Spec{Name: "a", Quota: &quota.Limits{StorageData: 64 << 20, StorageSkills: 32 << 20}}
	lines := quotaLines(spec, nil, -1, time.Now())
	if err := storageUsed(fakeVolumes{used: map[string]int64{"data": 10 << 20}}, "a", lines); err != nil {
		t.Fatal(err)
	}
	d := lines["storage.data"]
	if !d.Enforced || d.Used == nil || *d.Used != 10<<20 || *d.Remaining != 54<<20 {
		t.Fatalf("storage.data = %+v", d)
	}
	if s := lines["storage.skills"]; !s.Enforced || s.Used != nil {
		t.Fatalf("storage.skills without a volume on this node = %+v, want enforced, used unknown", s)
	}
	// Without volumes (a runtime that cannot make them) the caps are shown, not enforced.
	lines = quotaLines(spec, nil, -1, time.Now())
	if err := storageUsed(nil, "a", lines); err != nil || lines["storage.data"].Enforced {
		t.Fatalf("no volumes: %+v %v", lines["storage.data"], err)
	}
}

func TestCheckStorage(t *testing.T) {
	err := checkStorage(fakeVolumes{refuse: "skills"}, "a", quota.Limits{StorageData: 1 << 30, StorageSkills: 1 << 20})
	var br badRequest
	if !errors.As(err, &br) || err.Error() != "quotas.storage.skills: refused" {
		t.Fatalf("refused skills cap: %v", err)
	}
	if err := checkStorage(fakeVolumes{refuse: "skills"}, "a", quota.Limits{StorageData: 1 << 30}); err != nil {
		t.Fatalf("no skills cap: %v", err)
	}
}
