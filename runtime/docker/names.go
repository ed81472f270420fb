package docker

import (
	"fmt"
	"regexp"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/clawd-dev/clawd/runtime"
)

// LabelPort records the gateway's port on its container so Inspect and List
// can build the address without the spec.
const LabelPort = "io.clawd.port"

// Roles (values of runtime.LabelRole).
const (
	roleGateway = "gateway"
	roleNetwork = "network"
	roleData    = "data"
	roleSkills  = "skills"
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

// containerName is clawd-<first 8 of cluster id>-<namespace>. Two clusters
// sharing those 8 characters would collide on names, never on ownership: the
// full cluster id label decides.
func (r *Runtime) containerName(ns string) string { return "clawd-" + r.short + "-" + ns }

func (r *Runtime) networkName(ns string) string { return r.containerName(ns) + "-net" }

func (r *Runtime) volumeName(ns, role string) string { return r.containerName(ns) + "-" + role }

// labels are stamped on every object of the namespace.
func (r *Runtime) labels(ns, role string) map[string]string {
	return map[string]string{
		runtime.LabelManaged:   "true",
		runtime.LabelCluster:   r.cluster,
		runtime.LabelNamespace: ns,
		runtime.LabelRole:      role,
	}
}

// owned reports whether labels prove the object belongs to this cluster.
func (r *Runtime) owned(labels map[string]string) bool {
	return labels[runtime.LabelManaged] == "true" && labels[runtime.LabelCluster] == r.cluster
}

// clusterFilter selects this cluster's objects in list calls.
func (r *Runtime) clusterFilter() []string {
	return []string{runtime.LabelManaged + "=true", runtime.LabelCluster + "=" + r.cluster}
}

func portLabel(port int) string { return strconv.Itoa(port) }
