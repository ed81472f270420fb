package api

import (
	"context"
	"time"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/zram"
)

// Zram is the compressed swap of the Compressed tier (zram.Device).
type Zram interface {
	Status() zram.Status
	Compressed(swapped uint64) uint64
}

// NamespaceMemory is what a namespace's gateway holds now: resident in
// RAM, and swapped into zram with what that takes compressed (the pool's
// ratio applied to the cgroup's swapped bytes).
type NamespaceMemory struct {
	ResidentBytes   int64 `json:"residentBytes"`
	SwappedBytes    int64 `json:"swappedBytes"`
	CompressedBytes int64 `json:"compressedBytes"`
}

// CompressedNamespace is one Compressed namespace in clawd status.
type CompressedNamespace struct {
	Name            string `json:"name"`
	ResidentBytes   int64  `json:"residentBytes"`
	CompressedBytes int64  `json:"compressedBytes"`
}

// memoryReader is a runtime that reads a gateway's resident and swapped
// bytes (runtime.Squeezer).
type memoryReader interface {
	Memory(ctx context.Context, namespace string) (runtime.Memory, error)
}

// memory reads ns's gateway's memory live; nil when this node cannot.
func (s *Server) memory(ctx context.Context, ns namespace.Namespace) *NamespaceMemory {
	mr, ok := s.usage.(memoryReader)
	if !ok || ns.Status.ContainerID == "" || (ns.Status.Node != "" && ns.Status.Node != s.cfg.Node) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	m, err := mr.Memory(ctx, ns.Spec.Name)
	if err != nil {
		return nil
	}
	out := &NamespaceMemory{ResidentBytes: int64(m.Resident), SwappedBytes: int64(m.Swapped)}
	if s.cfg.Zram != nil {
		out.CompressedBytes = int64(s.cfg.Zram.Compressed(m.Swapped))
	}
	return out
}

// zramStatus fills clawd status's view of the Compressed tier.
func (s *Server) zramStatus(rep *StatusReply, list []namespace.Namespace) {
	if s.cfg.Zram != nil {
		zs := s.cfg.Zram.Status()
		rep.Zram = &zs
	}
	for _, ns := range list {
		if ns.Status.Phase == namespace.PhaseCompressed {
			rep.Compressed = append(rep.Compressed, CompressedNamespace{Name: ns.Spec.Name,
				ResidentBytes: ns.Status.ResidentBytes, CompressedBytes: ns.Status.CompressedBytes})
		}
	}
}
