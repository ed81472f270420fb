package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/cenkalti/backoff/v4"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
)

// defaultPidsLimit caps processes when the spec leaves it 0: enough for a
// Node gateway and its tools, low enough to stop a fork bomb.
const defaultPidsLimit = 512

// defaultNofile is the gateway's open-files limit (soft and hard): room for
// thousands of WebSockets and watched files, and below the hard limit of
// stock engines (the engine cannot raise it above its own without
// CAP_SYS_RESOURCE; 20000 here).
const defaultNofile = 8192

// The root filesystem is read-only; what OpenClaw writes outside its
// volumes lands on size-capped tmpfs mounts, charged to the container's
// memory cgroup: /tmp (logs, lock databases, upload staging) and the home
// directory that holds the state dir (~/.cache, ~/.npm, ~/.config). Both
// are emptied by a stop, as nothing there outlives a process.
const (
	tmpSize  = "256m"
	homeSize = "64m"
)

// Environment variables the runtime owns; the spec cannot override them.
const (
	envNamespace = "CLAWD_NAMESPACE"
	envStateDir  = "OPENCLAW_STATE_DIR"
	// envCompileCache is Node's compile cache dir, set unless the spec does.
	envCompileCache = "NODE_COMPILE_CACHE"
)

// errRetryCreate asks the create loop for another round (the name was taken
// by a container that is going away, or by a racing create).
var errRetryCreate = errors.New("container name busy")

// Create ensures the namespace's network, volumes and container exist and
// returns the container without starting it. An existing container of this
// cluster is adopted as it is; one without our labels is an error. With
// spec.DataVolume or SkillsVolume set, those existing volumes are mounted
// instead of the namespace's own.
func (r *Runtime) Create(ctx context.Context, spec runtime.GatewaySpec) (runtime.Instance, error) {
	if err := checkSpec(spec); err != nil {
		return runtime.Instance{}, err
	}
	ns := spec.Namespace
	spec = r.clampCPUs(ctx, spec)
	id, err := r.create(ctx, spec, r.namespaceGateway(ns))
	if err != nil {
		return runtime.Instance{}, fmt.Errorf("creating gateway %s: %w", ns, err)
	}
	c, err := r.inspectContainer(ctx, id)
	if err != nil {
		return runtime.Instance{}, fmt.Errorf("creating gateway %s: %w", ns, err)
	}
	if err := r.writeStateFiles(ctx, c, spec.StateFiles); err != nil {
		return runtime.Instance{}, fmt.Errorf("creating gateway %s: %w", ns, err)
	}
	return r.instance(c), nil
}

// create ensures the gateway's network, volumes and container and returns
// the container's id. The volumes are only looked at when the container
// has to be made: one that exists already mounts what it mounts.
func (r *Runtime) create(ctx context.Context, spec runtime.GatewaySpec, g gateway) (string, error) {
	log := r.logger(g)
	netID, err := r.ensureGatewayNetwork(ctx, g, netip.Prefix{})
	if err != nil {
		return "", err
	}

	var (
		opts         client.ContainerCreateOptions
		data, skills volume.Volume
		made         bool
	)
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(retryInitial),
		backoff.WithMaxInterval(retryMax),
		backoff.WithMaxElapsedTime(0),
	)
	var id string
	err = backoff.Retry(func() error {
		c, err := r.inspectContainer(ctx, g.container)
		switch {
		case err == nil:
			return r.adopt(ctx, log, spec, g, c, netID, &id)
		case !errors.Is(err, runtime.ErrNotFound):
			return backoff.Permanent(err)
		}
		if opts.Config == nil {
			if spec.DataBind == "" {
				if data, err = r.gatewayVolume(ctx, g, roleData, spec.DataVolume); err != nil {
					return backoff.Permanent(err)
				}
			}
			if spec.SkillsBind == "" {
				if skills, err = r.gatewayVolume(ctx, g, roleSkills, spec.SkillsVolume); err != nil {
					return backoff.Permanent(err)
				}
			}
			g.data, g.skills = data.Name, skills.Name
			opts = r.createOptions(spec, g, netID)
		}
		var res client.ContainerCreateResult
		err = r.do(ctx, func(ctx context.Context) error {
			var err error
			res, err = r.api.ContainerCreate(ctx, opts)
			return err
		})
		switch {
		case err == nil:
			id, made = res.ID, true
			log.Info("gateway container created", "container", g.container, "container_id", shortID(id), "image", spec.Image)
			for _, w := range res.Warnings {
				log.Warn("docker warned about the gateway container", "container", g.container, "warning", w)
			}
			return nil
		case cerrdefs.IsConflict(err):
			// Someone created the name between our inspect and create: the
			// next round inspects and adopts it (or reports whose it is).
			return errRetryCreate
		case cerrdefs.IsNotFound(err) && !networkMissing(err):
			return backoff.Permanent(fmt.Errorf("creating container %s: image %s is not on the engine (clawd does not pull images): %w", g.container, spec.Image, err))
		default:
			return backoff.Permanent(fmt.Errorf("creating container %s: %w", g.container, err))
		}
	}, backoff.WithContext(backoff.WithMaxRetries(b, retryAttempts), ctx))
	if err != nil {
		return "", err
	}

	if made {
		// After the create, because that is when Docker fills a fresh
		// volume from the image and copies the image directory's ownership.
		r.chownVolume(log, data)
		r.chownVolume(log, skills)
	}
	return id, nil
}

// gatewayVolume returns the volume the gateway mounts for role: the one
// the spec names, which must exist (a namespace keeps an adopted spare's
// volumes for life, and a missing one means its state is lost: that needs
// an operator, not a fresh empty volume), else the gateway's own.
func (r *Runtime) gatewayVolume(ctx context.Context, g gateway, role, named string) (volume.Volume, error) {
	if named == "" {
		return r.ensureVolume(ctx, g, role)
	}
	v, err := r.inspectVolume(ctx, named)
	if cerrdefs.IsNotFound(err) && r.shared != "" {
		// Moved from another node: the data is in the shared directory.
		return r.ensureNamedVolume(ctx, g, role, named)
	}
	if cerrdefs.IsNotFound(err) {
		return volume.Volume{}, fmt.Errorf("the %s volume %s named in the spec is gone: %w", role, named, err)
	}
	return v, err
}

// adopt takes over an existing container of this cluster. Dead containers
// (a failed removal) and stopped containers whose network is gone (`docker
// network prune` removes the networks of stopped containers; they could
// never start again) are removed and re-created; containers being removed
// are waited out; a warm-pool gateway renamed for the namespace by an
// adoption that did not finish gets it finished; anything else is kept as
// it is. A container another node sharing this engine made (the namespace
// has since been placed here, or this node was renamed) is never run
// here: stopped, it is removed and re-created as this node's on the same
// volumes; running, it is left alone for its node to stop once it sees the
// namespace placed elsewhere, after its grace.
func (r *Runtime) adopt(ctx context.Context, log hclog.Logger, spec runtime.GatewaySpec, g gateway, c container.InspectResponse, netID string, id *string) error {
	name := strings.TrimPrefix(c.Name, "/")
	halfAdopted := g.spare == "" && r.onSpareNetwork(c)
	node, neighbours := c.Config.Labels[runtime.LabelNode], !r.mine(c.Config.Labels)
	switch st := status(c); {
	case st == container.StateRemoving:
		return errRetryCreate
	case neighbours && (st == container.StateRunning || st == container.StatePaused || st == container.StateRestarting):
		return backoff.Permanent(fmt.Errorf("container %s is %s for node %s, which stops it once it sees the namespace placed here (after its --node.grace); if that node is gone for good, stop it (docker stop %s)",
			name, st, node, name))
	case st == container.StateDead, neighbours,
		(st == container.StateCreated || st == container.StateExited) && !halfAdopted && !onNetwork(c, netID, g.network):
		log.Info("removing stale gateway container before re-creating it", "container", name, "container_id", shortID(c.ID), "state", st, "node", node)
		if err := r.removeContainer(ctx, c.ID); err != nil {
			return backoff.Permanent(err)
		}
		return errRetryCreate
	}
	if halfAdopted {
		if err := r.completeAdoption(ctx, log, spec, c); err != nil {
			return backoff.Permanent(err)
		}
	}
	log.Debug("adopting existing gateway container", "container", name, "container_id", shortID(c.ID), "state", status(c))
	*id = c.ID
	return nil
}

// onNetwork reports whether the container is configured for the network:
// created on it (we attach by id; by name is accepted for containers made
// otherwise), or connected to it later (an adopted spare: its NetworkMode
// still names the spare's network, which is gone).
func onNetwork(c container.InspectResponse, netID, netName string) bool {
	if c.HostConfig != nil {
		mode := string(c.HostConfig.NetworkMode)
		if mode == netID || mode == netName || (len(mode) >= 12 && strings.HasPrefix(netID, mode)) {
			return true
		}
	}
	if c.NetworkSettings != nil {
		for _, ep := range c.NetworkSettings.Networks {
			if ep != nil && ep.NetworkID == netID {
				return true
			}
		}
	}
	return false
}

// createOptions translates the spec into the configuration of g's
// container. A spare's has no CLAWD_NAMESPACE: it belongs to no one yet,
// and Docker cannot change a container's environment once someone adopts it.
func (r *Runtime) createOptions(spec runtime.GatewaySpec, g gateway, netID string) client.ContainerCreateOptions {
	labels := r.gatewayLabels(g, g.role())
	labels[LabelPort] = portLabel(spec.Port)
	mounts := []mount.Mount{
		volumeOrBind(g.data, spec.DataBind, spec.StateDir),
		volumeOrBind(g.skills, spec.SkillsBind, spec.SkillsDir),
	}
	if spec.DataBind != "" {
		labels[LabelDataBind] = spec.DataBind
	}
	if spec.SkillsBind != "" {
		labels[LabelSkillsBind] = spec.SkillsBind
	}
	if spec.HostSkills != "" {
		labels[LabelSkillsPath] = spec.HostSkills
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: spec.HostSkills, Target: spec.HostSkillsDir,
			ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate}})
	}

	var env []string
	if g.ns != "" {
		env = append(env, envNamespace+"="+g.ns)
	}
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		if k != envNamespace && k != envStateDir {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // deterministic, so two creates of one spec are identical
	for _, k := range keys {
		env = append(env, k+"="+spec.Env[k])
	}
	env = append(env, envStateDir+"="+spec.StateDir)
	if _, ok := spec.Env[envCompileCache]; !ok {
		// The image's compile cache is under /tmp, which the scratch tmpfs
		// hides and a stop empties: without one on the state volume every
		// start recompiles OpenClaw (about 4 s more to ready here).
		env = append(env, envCompileCache+"="+path.Join(spec.StateDir, ".node-compile-cache"))
	}

	exposed := network.PortSet{}
	if p, ok := network.PortFrom(uint16(spec.Port), network.TCP); ok {
		exposed[p] = struct{}{}
	}

	pids := spec.PidsLimit
	if pids == 0 {
		pids = defaultPidsLimit
	}
	resources := container.Resources{
		NanoCPUs:  spec.NanoCPUs,
		PidsLimit: &pids,
	}
	if spec.MemoryBytes > 0 {
		// Swap capped at the memory cap means no swap at all.
		resources.Memory = spec.MemoryBytes
		resources.MemorySwap = spec.MemoryBytes
	}
	init := true
	nofile := int64(defaultNofile)
	resources.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: nofile, Hard: nofile}}

	return client.ContainerCreateOptions{
		Name: g.container,
		Config: &container.Config{
			Image:        spec.Image,
			Env:          env,
			Labels:       labels,
			ExposedPorts: exposed,
			// Stop promises SIGTERM; engines before API 1.42 ignore a signal
			// passed to stop, so it is fixed here over the image's STOPSIGNAL.
			StopSignal: "SIGTERM",
		},
		HostConfig: &container.HostConfig{
			// By id: engines before API 1.44 accept duplicate network names,
			// and a name could then resolve ambiguously.
			NetworkMode: container.NetworkMode(netID),
			// clawd's supervisor restarts gateways with its own backoff and
			// crash accounting; Docker restarting behind its back would hide
			// crashes from it.
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
			LogConfig: container.LogConfig{
				Type:   "json-file",
				Config: map[string]string{"max-size": "10m", "max-file": "3"},
			},
			Mounts:         mounts,
			CapDrop:        []string{"ALL"},
			SecurityOpt:    []string{"no-new-privileges"},
			ReadonlyRootfs: true,
			Tmpfs:          scratchMounts(spec),
			Init:           &init, // reaps the zombies of tools the gateway spawns
			Resources:      resources,
		},
	}
}

// volumeOrBind mounts the named volume at target, or the host directory
// bind when set. A bind source that does not exist fails the start (the
// Mounts API never creates it), so a gateway whose volume clawd has not
// mounted cannot start on the empty directory beneath.
func volumeOrBind(volume, bind, target string) mount.Mount {
	if bind == "" {
		return mount.Mount{Type: mount.TypeVolume, Source: volume, Target: target}
	}
	return mount.Mount{Type: mount.TypeBind, Source: bind, Target: target,
		BindOptions: &mount.BindOptions{Propagation: mount.PropagationRPrivate}}
}

// scratchMounts are the tmpfs mounts of a read-only gateway: /tmp for
// everyone (mode 1777; Docker adds noexec) and, when the state dir is one
// level below a home directory (~/.openclaw), that home, owned by the
// gateway user. The volumes mounted below it are mounted over it.
func scratchMounts(spec runtime.GatewaySpec) map[string]string {
	m := map[string]string{"/tmp": "rw,nosuid,nodev,mode=1777,size=" + tmpSize}
	if home := path.Dir(path.Clean(spec.StateDir)); home != "/" && home != "/tmp" {
		m[home] = fmt.Sprintf("rw,nosuid,nodev,mode=0755,uid=%d,gid=%d,size=%s", gatewayUID, gatewayGID, homeSize)
	}
	return m
}

// checkSpec refuses specs that would make an unusable container, before any
// object is created.
func checkSpec(spec runtime.GatewaySpec) error {
	if err := checkNamespace(spec.Namespace); err != nil {
		return err
	}
	return checkGatewaySpec(spec, spec.Namespace)
}

// checkGatewaySpec is checkSpec without the namespace, which a spare has not.
func checkGatewaySpec(spec runtime.GatewaySpec, who string) error {
	var problems []string
	if spec.Image == "" {
		problems = append(problems, "image is empty")
	}
	if spec.Port <= 0 || spec.Port > 65535 {
		problems = append(problems, fmt.Sprintf("port %d is out of range", spec.Port))
	}
	if spec.NanoCPUs < 0 || spec.MemoryBytes < 0 || spec.PidsLimit < 0 {
		problems = append(problems, "resource caps must not be negative")
	}
	for _, d := range []struct{ what, dir string }{{"state dir", spec.StateDir}, {"skills dir", spec.SkillsDir}} {
		if !path.IsAbs(d.dir) || path.Clean(d.dir) == "/" {
			problems = append(problems, fmt.Sprintf("%s %q is not an absolute path below /", d.what, d.dir))
		}
	}
	if spec.StateDir != "" && path.Clean(spec.StateDir) == path.Clean(spec.SkillsDir) {
		problems = append(problems, "state dir and skills dir are the same")
	}
	if spec.HostSkills != "" {
		if !path.IsAbs(spec.HostSkills) || path.Clean(spec.HostSkills) == "/" {
			problems = append(problems, fmt.Sprintf("host skills dir %q is not an absolute path below /", spec.HostSkills))
		}
		if d := path.Clean(spec.HostSkillsDir); !path.IsAbs(spec.HostSkillsDir) || d == "/" ||
			d == path.Clean(spec.StateDir) || d == path.Clean(spec.SkillsDir) {
			problems = append(problems, fmt.Sprintf("host skills mount point %q is not an absolute path of its own", spec.HostSkillsDir))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("gateway spec for %s: %s: %w", who, strings.Join(problems, "; "), cerrdefs.ErrInvalidArgument)
	}
	return nil
}
