package api

import (
	"github.com/clawd-dev/clawd/quota"
)

// StorageVolumes reads and checks namespaces' capped volumes on this node
// (volumes.Manager).
type StorageVolumes interface {
	// VolumeUsed returns the bytes namespace ns's volume for role ("data",
	// "skills") uses; ok is false when it has no capped volume here.
	VolumeUsed(ns, role string) (used int64, ok bool, err error)
	// CheckResize refuses a cap the volume cannot take (too small, or a
	// shrink), in one line naming key.
	CheckResize(ns, role string, size int64, key string) error
}

// storageKeys pairs the quota file's storage keys with the volume roles.
var storageKeys = []struct{ key, role string }{
	{"storage.data", "data"},
	{"storage.skills", "skills"},
}

// checkStorage refuses, before anything is written, storage caps the
// namespace's volumes cannot take.
func checkStorage(vols StorageVolumes, name string, l quota.Limits) error {
	if vols == nil {
		return nil
	}
	for _, k := range storageKeys {
		size := l.StorageData
		if k.role == "skills" {
			size = l.StorageSkills
		}
		if err := vols.CheckResize(name, k.role, size, "quotas."+k.key); err != nil {
			return badRequest{err}
		}
	}
	return nil
}

// storageUsed fills in the storage lines of quota-status: what each
// capped volume uses, enforced as a hard cap.
func storageUsed(vols StorageVolumes, name string, lines map[string]QuotaLine) error {
	if vols == nil {
		return nil
	}
	for _, k := range storageKeys {
		l, ok := lines[k.key]
		if !ok {
			continue
		}
		used, ok, err := vols.VolumeUsed(name, k.role)
		if err != nil {
			return err
		}
		l.Enforced = true
		if ok {
			rem := max(l.Limit-used, 0)
			l.Used, l.Remaining = &used, &rem
		}
		lines[k.key] = l
	}
	return nil
}
