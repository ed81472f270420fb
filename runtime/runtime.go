// Package runtime is the contract between clawd's orchestration (supervisor,
// warm pool, reaper, router) and whatever runs gateway containers. The
// orchestration imports this package only; runtime/docker implements it.
package runtime

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Label keys stamped on every object clawd creates. Ownership is proven by
// these labels: nothing without io.clawd.managed=true and this cluster's id is
// ever touched.
const (
	LabelManaged   = "io.clawd.managed"
	LabelCluster   = "io.clawd.cluster"
	LabelNamespace = "io.clawd.namespace"
	LabelRole      = "io.clawd.role" // "gateway", "data", "skills", "network"
	// LabelNode is the node that made the object. Nodes of one cluster
	// that share a Docker engine each see only their own objects.
	LabelNode = "io.clawd.node"
)

// ErrNotFound is returned (wrapped) when the namespace has no container.
var ErrNotFound = errors.New("not found")

// GatewaySpec is everything the runtime needs to create one namespace's gateway.
type GatewaySpec struct {
	Namespace string
	Image     string
	// Port the gateway listens on inside the container.
	Port int
	// NanoCPUs is the CPU cap in units of 1e-9 CPUs (4 CPUs = 4e9). 0 = no cap.
	NanoCPUs int64
	// MemoryBytes is the memory cap (swap is capped at the same value). 0 = no cap.
	MemoryBytes int64
	// PidsLimit caps processes in the container. 0 = runtime default.
	PidsLimit int64
	// Env is added to the container's environment (CLAWD_NAMESPACE is always set).
	Env map[string]string
	// StateDir is where the data volume is mounted (the gateway's state dir).
	StateDir string
	// SkillsDir is where the skills volume is mounted.
	SkillsDir string
	// DataVolume and SkillsVolume name existing volumes to mount instead of
	// the namespace's own: a namespace that adopted a warm-pool gateway keeps
	// that gateway's volumes for life. Empty: the deterministic names.
	DataVolume   string
	SkillsVolume string
	// DataBind and SkillsBind are host directories bind-mounted at the
	// state and skills dirs instead of Docker volumes: a capped or
	// encrypted volume clawd mounted (package volumes). "" keeps the
	// Docker volume. Like every mount, fixed when the container is made.
	DataBind   string
	SkillsBind string
	// HostSkills is a host directory mounted read-only at HostSkillsDir
	// (namespaces.<ns>.skills.path); "" mounts none. Mounts are fixed when
	// a container is made: another directory needs another container.
	HostSkills    string
	HostSkillsDir string
	// StateFiles are written into the state dir (names relative to it,
	// owned by the gateway user) before the container first starts: what a
	// gateway needs to boot when no one else writes it first (a warm-pool
	// spare's config). Ignored for a container that has run.
	StateFiles map[string][]byte
}

// State is the coarse state of a container as the runtime sees it.
type State string

// Container states.
const (
	StateCreated State = "created"
	StateRunning State = "running"
	StatePaused  State = "paused"
	StateExited  State = "exited"
	StateMissing State = "missing"
)

// Instance is what the runtime knows about one namespace's gateway container.
type Instance struct {
	Namespace   string
	ContainerID string
	Name        string
	Image       string
	State       State
	// Address is host:port where the gateway can be reached from this host
	// (the container's IP on its namespace network and the gateway port).
	Address    string
	Pid        int
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int
	OOMKilled  bool
	// Error is the runtime's own error for the last start, if any.
	Error  string
	Labels map[string]string
	// SpareID is set on warm-pool gateways: the pool member this container
	// is, or was before a namespace adopted it.
	SpareID string
	// Spare is true while the container is a pool member or only half
	// adopted (renamed for a namespace but not yet on its network).
	Spare bool
	// DataVolume and SkillsVolume are the volumes mounted at the state and
	// skills dirs.
	DataVolume   string
	SkillsVolume string
	// DataBind and SkillsBind are the host directories mounted at the
	// state and skills dirs in place of volumes (GatewaySpec.DataBind).
	DataBind   string
	SkillsBind string
	// HostSkills is the host directory of skills the container was made
	// with (GatewaySpec.HostSkills).
	HostSkills string
}

// Stats are read straight from the container's cgroup.
type Stats struct {
	CPUUsage         time.Duration // total CPU time consumed
	MemoryWorkingSet uint64        // usage minus inactive file cache
	MemoryLimit      uint64
	OOMKills         uint64
	Pids             uint64
	ReadAt           time.Time
}

// EventKind names what happened to a container.
type EventKind string

// Event kinds the supervisor reacts to.
const (
	EventStart   EventKind = "start"
	EventDie     EventKind = "die"
	EventOOM     EventKind = "oom"
	EventPause   EventKind = "pause"
	EventUnpause EventKind = "unpause"
	EventDestroy EventKind = "destroy"
	EventOther   EventKind = "other"
)

// Event is one container event of this cluster. Events only wake the
// reconcile loop; they are allowed to be lost.
type Event struct {
	Namespace   string
	ContainerID string
	Kind        EventKind
	At          time.Time
}

// RemoveOptions says how much of a namespace to remove.
type RemoveOptions struct {
	// Volumes also removes the data and skills volumes (namespace delete --purge).
	Volumes bool
	// DataVolume and SkillsVolume name the volumes to remove when they are
	// not the deterministic ones (an adopted pool gateway's).
	DataVolume   string
	SkillsVolume string
}

// CapUpdater is implemented by runtimes that change a running gateway's
// CPU, memory and pids caps in place (a quota change), without a restart.
type CapUpdater interface {
	// UpdateCaps applies spec's caps to spec.Namespace's container; a
	// memory cap below what the gateway uses is refused (a failed
	// precondition), not applied.
	UpdateCaps(ctx context.Context, spec GatewaySpec) error
}

// Pool is implemented by runtimes that keep pre-started gateways that
// belong to no namespace (the warm pool).
type Pool interface {
	// CreateSpare creates and starts pool member id from spec (its
	// Namespace is empty): its own network, fresh volumes, labelled as a
	// spare. Idempotent like Create.
	CreateSpare(ctx context.Context, id string, spec GatewaySpec) (Instance, error)
	// Spares lists this cluster's pool members no namespace has claimed.
	Spares(ctx context.Context) ([]Instance, error)
	// Adopt makes spare id the gateway of spec.Namespace. It renames the
	// container first: that is the claim, and since a container has one
	// name a spare can never serve two namespaces. Then it moves it from
	// its own network onto the namespace's and applies spec's caps live.
	// With id == "" it completes the adoption of the container already
	// named for the namespace (clawd died mid-adoption). Idempotent.
	Adopt(ctx context.Context, id string, spec GatewaySpec) (Instance, error)
	// RemoveSpare removes a pool member with its network and volumes.
	RemoveSpare(ctx context.Context, id string) error
}

// SpareAddresser is a Pool that tells, before spare id is made, the
// router's address on the network the spare will serve on once adopted, so
// the spare's config can trust that one address from its first start: a
// change of a gateway's trusted proxies closes its client connections.
// Adopt keeps that address when it can; when it cannot (the subnet was
// taken meanwhile), the namespace's config names the new one.
type SpareAddresser interface {
	SpareRouterAddress(ctx context.Context, id string) (netip.Addr, error)
}

// StateWriter writes a file into a running gateway's state volume, owned
// by the gateway's user (config and identity for an adopted gateway).
type StateWriter interface {
	WriteState(ctx context.Context, namespace, path string, data []byte) error
}

// VolumeFiles is one volume and where its files are on this host.
type VolumeFiles struct {
	Name, Path string
}

// VolumePather tells where a namespace's volumes' files are on this host,
// so clawd can move them onto a capped or encrypted volume.
type VolumePather interface {
	// NamespaceVolumes returns the namespace's data and skills volumes:
	// the ones named, else its own; the zero VolumeFiles for one that
	// does not exist.
	NamespaceVolumes(ctx context.Context, ns, dataVolume, skillsVolume string) (data, skills VolumeFiles, err error)
}

// LogTailer reads the end of a gateway's log (stdout and stderr, in order),
// so a crash can be explained by what the gateway said last.
type LogTailer interface {
	// TailLogs returns up to n of the last lines the namespace's gateway
	// container wrote, oldest first.
	TailLogs(ctx context.Context, namespace string, n int) ([]string, error)
}

// Runtime runs gateway containers. Every method is idempotent and every call
// takes a context with a deadline. Containers, networks and volumes are named
// deterministically from the cluster id and the namespace.
type Runtime interface {
	// Create makes the namespace's network, volumes and container if they do
	// not exist yet, adopting what exists. It does not start the container.
	Create(ctx context.Context, spec GatewaySpec) (Instance, error)
	Start(ctx context.Context, namespace string) error
	// Stop sends SIGTERM and kills after timeout.
	Stop(ctx context.Context, namespace string, timeout time.Duration) error
	Pause(ctx context.Context, namespace string) error
	Unpause(ctx context.Context, namespace string) error
	// Remove deletes the container and network, and the volumes when asked.
	// Removing what does not exist is not an error.
	Remove(ctx context.Context, namespace string, opts RemoveOptions) error
	// Inspect returns the namespace's container; errors.Is(err, ErrNotFound)
	// when there is none.
	Inspect(ctx context.Context, namespace string) (Instance, error)
	// List returns every gateway container of this cluster (recovery after a
	// restart starts here).
	List(ctx context.Context) ([]Instance, error)
	// Stats reads the namespace container's cgroup.
	Stats(ctx context.Context, namespace string) (Stats, error)
	// Events streams container events of this cluster until ctx ends. The
	// error channel receives one error when the stream breaks.
	Events(ctx context.Context) (<-chan Event, <-chan error)
}

// Objects lists every Docker object (containers, networks, volumes) carrying
// this cluster's labels. Implemented by runtimes that can enumerate leaks.
type Objects interface {
	Objects(ctx context.Context) ([]Object, error)
	// RemoveObject removes one of them, checking ownership again first.
	RemoveObject(ctx context.Context, o Object) error
}

// Object is one runtime object owned by this cluster.
type Object struct {
	Kind      string // "container", "network", "volume"
	ID        string
	Name      string
	Namespace string
	// Spare is the warm-pool member the object was made for, if any (an
	// adopted spare's volumes keep it for life).
	Spare   string
	Created time.Time
}

// Memory is what a gateway's cgroup holds in RAM and in swap, in bytes.
type Memory struct {
	Resident uint64
	// Swapped is what it has in swap, before compression.
	Swapped uint64
}

// Squeezer is implemented by runtimes that push a paused gateway's memory
// out to swap (the Compressed sleep tier) and keep a running one out of it.
type Squeezer interface {
	// Squeeze reclaims the paused container's memory into swap until about
	// keep bytes are left, leaving its memory cap as it was, and returns
	// what it holds after.
	Squeeze(ctx context.Context, namespace string, keep uint64) (Memory, error)
	// KeepResident closes swap to the container again (after a thaw):
	// what is swapped comes back as it is touched, nothing more goes out.
	KeepResident(ctx context.Context, namespace string) error
	// Memory reads what the container holds resident and swapped.
	Memory(ctx context.Context, namespace string) (Memory, error)
}
