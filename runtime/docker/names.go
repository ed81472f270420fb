package docker

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/runtime"
)

// LabelPort records the gateway's port on its container so Inspect and List
// can build the address without the spec.
const LabelPort = "io.clawd.port"

// LabelSkillsPath records the host directory of skills mounted into a
// gateway (GatewaySpec.HostSkills), so Inspect reports what the container
// was made with and the supervisor can tell when it must be re-made.
const LabelSkillsPath = "io.clawd.skills-path"

// LabelDataBind and LabelSkillsBind record the host directories bound at
// the state and skills dirs in place of volumes (GatewaySpec.DataBind).
const (
	LabelDataBind   = "io.clawd.data-bind"
	LabelSkillsBind = "io.clawd.skills-bind"
)

// LabelSpare carries the warm-pool member id on a spare's container, network
// and volumes. Docker cannot change labels, so an adopted gateway keeps it,
// with role=spare and an empty namespace label: from then on its name says
// whose it is.
const LabelSpare = "io.clawd.spare"

// Roles (values of runtime.LabelRole).
const (
	roleGateway = "gateway"
	roleNetwork = "network"
	roleData    = "data"
	roleSkills  = "skills"
	roleSpare   = "spare" // a warm-pool gateway's container, adopted or not
)

// namespaceRE is what Docker accepts after our "clawd-<cluster>-" prefix.
// The namespace package is stricter; this only keeps names valid.
var namespaceRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)

func checkNamespace(ns string) error {
	if !namespaceRE.MatchString(ns) {
		return fmt.Errorf("namespace %q is not usable in Docker object names: %w", ns, cerrdefs.ErrInvalidArgument)
	}
	return nil
}

// spareIDRE is what the warm pool may use as a member id.
var spareIDRE = regexp.MustCompile(`^[a-z0-9]{1,16}$`)

func checkSpareID(id string) error {
	if !spareIDRE.MatchString(id) {
		return fmt.Errorf("spare id %q is not 1 to 16 of [a-z0-9]: %w", id, cerrdefs.ErrInvalidArgument)
	}
	return nil
}

// containerName is clawd-<first 8 of cluster id>-<namespace>. Two clusters
// sharing those 8 characters would collide on names, never on ownership: the
// full cluster id label decides.
func (r *Runtime) containerName(ns string) string { return r.namespacePrefix() + ns }

func (r *Runtime) namespacePrefix() string { return "clawd-" + r.short + "-" }

// spareName is clawd-<first 8 of cluster id>.spare-<id>. Namespace names
// cannot hold a '.', and the character after the cluster part differs ('.'
// here, '-' there), so a spare's name never collides with a namespace's.
func (r *Runtime) spareName(id string) string { return r.sparePrefix() + id }

func (r *Runtime) sparePrefix() string { return "clawd-" + r.short + ".spare-" }

// namespaceOf returns the namespace a container name of this cluster is
// for; "" for a spare's name and for names that are not ours.
func (r *Runtime) namespaceOf(name string) string {
	ns, ok := strings.CutPrefix(strings.TrimPrefix(name, "/"), r.namespacePrefix())
	if !ok || checkNamespace(ns) != nil {
		return ""
	}
	return ns
}

// spareOf returns the spare id in a spare's container name; "" for any
// other name (an adopted spare's included).
func (r *Runtime) spareOf(name string) string {
	id, ok := strings.CutPrefix(strings.TrimPrefix(name, "/"), r.sparePrefix())
	if !ok || checkSpareID(id) != nil {
		return ""
	}
	return id
}

func (r *Runtime) networkName(ns string) string { return r.containerName(ns) + "-net" }

func (r *Runtime) volumeName(ns, role string) string { return r.containerName(ns) + "-" + role }

// labels are stamped on every object of the namespace.
func (r *Runtime) labels(ns, role string) map[string]string {
	l := map[string]string{
		runtime.LabelManaged:   "true",
		runtime.LabelCluster:   r.cluster,
		runtime.LabelNamespace: ns,
		runtime.LabelRole:      role,
	}
	if r.node != "" {
		l[runtime.LabelNode] = r.node
	}
	return l
}

// gateway names the Docker objects of one gateway: a namespace's, named
// from the namespace, or a warm-pool member's, named from its id.
type gateway struct {
	ns    string // "" for a spare
	spare string // "" for a namespace's own gateway

	container, network string
	data, skills       string // volume names
}

func (r *Runtime) namespaceGateway(ns string) gateway {
	return gateway{
		ns: ns, container: r.containerName(ns), network: r.networkName(ns),
		data: r.volumeName(ns, roleData), skills: r.volumeName(ns, roleSkills),
	}
}

func (r *Runtime) spareGateway(id string) gateway {
	name := r.spareName(id)
	return gateway{
		spare: id, container: name, network: name + "-net",
		data: name + "-" + roleData, skills: name + "-" + roleSkills,
	}
}

// role of the gateway's container.
func (g gateway) role() string {
	if g.spare != "" {
		return roleSpare
	}
	return roleGateway
}

// labels for one of the gateway's objects.
func (r *Runtime) gatewayLabels(g gateway, role string) map[string]string {
	l := r.labels(g.ns, role)
	if g.spare != "" {
		l[LabelSpare] = g.spare
	}
	return l
}

// logger is the runtime's logger with the gateway's identity.
func (r *Runtime) logger(g gateway) hclog.Logger {
	if g.spare != "" {
		return r.log.With("spare", g.spare)
	}
	return r.log.With("namespace", g.ns)
}

// owned reports whether labels prove the object belongs to this cluster.
func (r *Runtime) owned(labels map[string]string) bool {
	return labels[runtime.LabelManaged] == "true" && labels[runtime.LabelCluster] == r.cluster
}

// mine reports whether an object of this cluster is this node's: made by
// it, or by a clawd that stamped no node. Another node sharing the engine
// keeps its own (a node that removed a neighbour's gateway as "placed
// elsewhere" took down a running namespace).
func (r *Runtime) mine(labels map[string]string) bool {
	n := labels[runtime.LabelNode]
	return r.node == "" || n == "" || n == r.node
}

// clusterFilter selects this cluster's objects in list calls.
func (r *Runtime) clusterFilter() []string {
	return []string{runtime.LabelManaged + "=true", runtime.LabelCluster + "=" + r.cluster}
}

func portLabel(port int) string { return strconv.Itoa(port) }
