package docker

import (
	"context"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// Inspect returns the namespace's gateway container; errors.Is(err,
// runtime.ErrNotFound) when there is none.
func (r *Runtime) Inspect(ctx context.Context, ns string) (runtime.Instance, error) {
	if err := checkNamespace(ns); err != nil {
		return runtime.Instance{}, err
	}
	c, err := r.inspectContainer(ctx, r.containerName(ns))
	if err != nil {
		return runtime.Instance{}, fmt.Errorf("inspecting gateway %s: %w", ns, err)
	}
	return r.instance(c), nil
}

func (r *Runtime) inspectInstance(ctx context.Context, nameOrID string) (runtime.Instance, error) {
	c, err := r.inspectContainer(ctx, nameOrID)
	if err != nil {
		return runtime.Instance{}, err
	}
	return r.instance(c), nil
}

// inspectContainer returns the container if it belongs to this cluster. A
// missing container wraps runtime.ErrNotFound; a foreign one is a
// NotOwnedError, so no caller ever acts on it.
func (r *Runtime) inspectContainer(ctx context.Context, nameOrID string) (container.InspectResponse, error) {
	var res client.ContainerInspectResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.ContainerInspect(ctx, nameOrID, client.ContainerInspectOptions{})
		return err
	})
	if cerrdefs.IsNotFound(err) {
		return container.InspectResponse{}, notFound(err)
	}
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("inspecting container %s: %w", nameOrID, err)
	}
	c := res.Container
	var labels map[string]string
	if c.Config != nil {
		labels = c.Config.Labels
	}
	if !r.owned(labels) {
		return container.InspectResponse{}, r.notOwned("container", strings.TrimPrefix(c.Name, "/"), c.ID, labels)
	}
	return c, nil
}

// instance maps Docker's view of one of our containers onto the runtime
// contract, warm-pool gateways included: a spare's or an adopted spare's
// labels cannot say whose it is (Docker cannot change labels), so its name
// does, and its address is on the network its name calls for.
func (r *Runtime) instance(c container.InspectResponse) runtime.Instance {
	inst := instanceFromInspect(c)
	id := inst.Labels[LabelSpare]
	if id == "" {
		return inst
	}
	inst.SpareID = id
	onSpare := r.onSpareNetwork(c)
	net := r.spareGateway(id).network
	inst.Namespace = r.namespaceOf(inst.Name)
	if inst.Namespace != "" {
		net = r.networkName(inst.Namespace)
		// Adopt leaves the spare's network before it joins the
		// namespace's: on neither, the adoption is not done either.
		_, onNamespace := c.NetworkSettings.Networks[net]
		inst.Spare = onSpare || c.NetworkSettings == nil || !onNamespace
	} else {
		inst.Spare = true
	}
	inst.Address = ""
	if inst.State == runtime.StateRunning || inst.State == runtime.StatePaused {
		inst.Address = address(networkIPNamed(c.NetworkSettings, net), inst.Labels[LabelPort])
	}
	return inst
}

// onSpareNetwork reports whether a warm-pool gateway is still attached to
// its own network, i.e. is a spare or only half adopted.
func (r *Runtime) onSpareNetwork(c container.InspectResponse) bool {
	if c.Config == nil || c.NetworkSettings == nil {
		return false
	}
	id := c.Config.Labels[LabelSpare]
	if id == "" {
		return false
	}
	_, ok := c.NetworkSettings.Networks[r.spareGateway(id).network]
	return ok
}

// networkIPNamed is the container's address on the network called name.
func networkIPNamed(ns *container.NetworkSettings, name string) string {
	if ns == nil {
		return ""
	}
	if ep := ns.Networks[name]; ep != nil && ep.IPAddress.IsValid() {
		return ep.IPAddress.String()
	}
	return ""
}

// mountedVolumes returns the named volumes mounted at the gateway's state
// dir (known from its environment) and skills dir (the other volume we
// mount; by its name's suffix should the image declare more).
func mountedVolumes(c container.InspectResponse) (data, skills string) {
	stateDir := stateDirOf(c)
	var others []string
	for _, m := range c.Mounts {
		switch {
		case m.Type != mount.TypeVolume || m.Name == "":
		case stateDir != "" && path.Clean(m.Destination) == stateDir:
			data = m.Name
		default:
			others = append(others, m.Name)
		}
	}
	for _, n := range others {
		switch {
		case data == "" && strings.HasSuffix(n, "-"+roleData):
			data = n
		case strings.HasSuffix(n, "-"+roleSkills), len(others) == 1:
			skills = n
		}
	}
	return data, skills
}

// stateDirOf returns the state dir the runtime put in the container's
// environment, "" when there is none.
func stateDirOf(c container.InspectResponse) string {
	if c.Config == nil {
		return ""
	}
	for _, e := range c.Config.Env {
		if v, ok := strings.CutPrefix(e, envStateDir+"="); ok && v != "" {
			return path.Clean(v)
		}
	}
	return ""
}

// instanceFromInspect maps Docker's view of a gateway container onto the
// runtime contract.
func instanceFromInspect(c container.InspectResponse) runtime.Instance {
	inst := runtime.Instance{
		ContainerID: c.ID,
		Name:        strings.TrimPrefix(c.Name, "/"),
		State:       runtime.StateMissing,
	}
	if c.Config != nil {
		inst.Image = c.Config.Image
		inst.Labels = c.Config.Labels
		inst.Namespace = c.Config.Labels[runtime.LabelNamespace]
		inst.HostSkills = c.Config.Labels[LabelSkillsPath]
		inst.DataBind, inst.SkillsBind = c.Config.Labels[LabelDataBind], c.Config.Labels[LabelSkillsBind]
	}
	if s := c.State; s != nil {
		inst.State = mapState(s.Status)
		inst.Pid = s.Pid
		inst.StartedAt = parseDockerTime(s.StartedAt)
		inst.FinishedAt = parseDockerTime(s.FinishedAt)
		inst.ExitCode = s.ExitCode
		inst.OOMKilled = s.OOMKilled
		inst.Error = s.Error
	}
	if inst.State == runtime.StateRunning || inst.State == runtime.StatePaused {
		if ep := namespaceEndpoint(c.NetworkSettings, c.HostConfig); ep != nil {
			inst.Address = address(ep.IPAddress.String(), inst.Labels[LabelPort])
		}
	}
	inst.DataVolume, inst.SkillsVolume = mountedVolumes(c)
	return inst
}

// mapState folds Docker's container states onto the contract's.
func mapState(s container.ContainerState) runtime.State {
	switch s {
	case container.StateCreated:
		return runtime.StateCreated
	case container.StateRunning, container.StateRestarting:
		// Restarting only happens with a Docker restart policy, which clawd
		// does not set; should it, the process is (about to be) up.
		return runtime.StateRunning
	case container.StatePaused:
		return runtime.StatePaused
	case container.StateExited, container.StateDead, container.StateRemoving:
		return runtime.StateExited
	}
	return runtime.StateMissing
}

// networkIP is the container's address on its namespace network: the
// network named in HostConfig.NetworkMode (an id), else the only one.
func networkIP(ns *container.NetworkSettings, hc *container.HostConfig) string {
	if ep := namespaceEndpoint(ns, hc); ep != nil {
		return ep.IPAddress.String()
	}
	return ""
}

// namespaceEndpoint is the container's live endpoint on its namespace
// network (see networkIP), nil when it has no address there.
func namespaceEndpoint(ns *container.NetworkSettings, hc *container.HostConfig) *network.EndpointSettings {
	if ns == nil || len(ns.Networks) == 0 {
		return nil
	}
	var mode string
	if hc != nil {
		mode = string(hc.NetworkMode)
	}
	for name, ep := range ns.Networks {
		if ep == nil || !ep.IPAddress.IsValid() {
			continue
		}
		if mode == "" || mode == name || mode == ep.NetworkID || (len(mode) >= 12 && strings.HasPrefix(ep.NetworkID, mode)) {
			return ep
		}
	}
	if len(ns.Networks) == 1 {
		for _, ep := range ns.Networks {
			if ep != nil && ep.IPAddress.IsValid() {
				return ep
			}
		}
	}
	return nil
}

func address(ip, port string) string {
	if ip == "" || port == "" {
		return ""
	}
	if _, err := strconv.Atoi(port); err != nil {
		return ""
	}
	return net.JoinHostPort(ip, port)
}

// parseDockerTime parses the engine's RFC 3339 timestamps; the zero time
// ("0001-01-01T00:00:00Z") and garbage both give time.Time{}.
func parseDockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
