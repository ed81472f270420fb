package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/clawd-dev/clawd/runtime"
	"github.com/clawd-dev/clawd/runtime/cgroupfs"
)

// Adopt makes warm-pool member id the gateway of spec.Namespace:
//
//  1. rename clawd-<cluster>.spare-<id> to the namespace's container name.
//     That is the claim: a container has one name, so a spare can never
//     serve two namespaces, and a namespace that has a container already
//     makes the rename fail (a conflict) with both left as they were;
//  2. apply spec's caps live, and meanwhile
//  3. disconnect it from its own network and remove that network, then
//  4. make the namespace's network (as Create makes it) with the subnet
//     the spare's had, and connect it.
//
// The subnet is kept so the router's address on the gateway's network, the
// one address the gateway trusts as its proxy (SpareRouterAddress), is the
// one it booted with: OpenClaw closes every client connection when its
// trusted proxies change. Should another network have taken the subnet in
// between, the namespace's config names the new address.
//
// Each step looks before it acts, so a run cut short at any point (kill -9)
// is finished by another: Adopt with the same id, or with id "" (which
// finishes the adoption of the container already named for the namespace,
// and is a plain Inspect when there is nothing to finish). A container
// renamed for a namespace but not on its network is Instance.Spare: that
// is how a caller knows there is something left to do.
func (r *Runtime) Adopt(ctx context.Context, id string, spec runtime.GatewaySpec) (runtime.Instance, error) {
	ns := spec.Namespace
	if err := checkNamespace(ns); err != nil {
		return runtime.Instance{}, err
	}
	if spec.NanoCPUs < 0 || spec.MemoryBytes < 0 || spec.PidsLimit < 0 {
		return runtime.Instance{}, fmt.Errorf("adopting a spare for %s: resource caps must not be negative: %w", ns, cerrdefs.ErrInvalidArgument)
	}
	log := r.log.With("namespace", ns)
	what := "finishing the adoption of a spare for " + ns
	if id != "" {
		if err := checkSpareID(id); err != nil {
			return runtime.Instance{}, err
		}
		log = log.With("spare", id)
		what = fmt.Sprintf("adopting spare %s for %s", id, ns)
		if err := r.claimSpare(ctx, log, id, ns); err != nil {
			return runtime.Instance{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	c, err := r.resolve(ctx, ns)
	if err != nil {
		return runtime.Instance{}, fmt.Errorf("%s: %w", what, err)
	}
	spare := c.Config.Labels[LabelSpare]
	if id != "" && spare != id {
		return runtime.Instance{}, fmt.Errorf("%s: the namespace's container %s is not that spare: %w", what, shortID(c.ID), cerrdefs.ErrConflict)
	}
	if spare != "" {
		if err := r.completeAdoption(ctx, log, spec, c); err != nil {
			return runtime.Instance{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	inst, err := r.inspectInstance(ctx, c.ID)
	if err != nil {
		return runtime.Instance{}, fmt.Errorf("%s: %w", what, err)
	}
	return inst, nil
}

// claimSpare renames spare id to the namespace's container name (step 1).
// A spare already renamed for this namespace (by a run cut short) counts as
// claimed.
//
// The engine resolves the old name before it locks the container and then
// renames whatever name the container has by then, so two renames of one
// spare racing each other would both succeed, the second taking it from the
// first namespace. Claims of one spare are therefore serialized in this
// process: a second one finds the spare gone. (Two clawd daemons of one
// cluster on one engine are not supported.)
func (r *Runtime) claimSpare(ctx context.Context, log hclog.Logger, id, ns string) error {
	if _, busy := r.claims.LoadOrStore(id, ns); busy {
		return fmt.Errorf("spare %s is being adopted for another namespace: %w", id, runtime.ErrNotFound)
	}
	defer r.claims.Delete(id)
	from, to := r.spareName(id), r.containerName(ns)
	if _, err := r.inspectContainer(ctx, from); err != nil {
		if errors.Is(err, runtime.ErrNotFound) {
			return r.claimedFor(ctx, id, ns, err)
		}
		return err
	}
	// By name: a concurrent claim that renamed it first makes this one
	// miss, where the id would rename the other namespace's gateway.
	err := r.do(ctx, func(ctx context.Context) error {
		_, err := r.api.ContainerRename(ctx, from, client.ContainerRenameOptions{NewName: to})
		return err
	})
	switch {
	case err == nil:
		log.Info("spare claimed", "container", to)
		return nil
	case cerrdefs.IsConflict(err):
		return fmt.Errorf("namespace %s already has a container %s: %w", ns, to, err)
	case cerrdefs.IsNotFound(err):
		return r.claimedFor(ctx, id, ns, notFound(err))
	}
	return fmt.Errorf("renaming %s to %s: %w", from, to, err)
}

// claimedFor returns nil when the namespace's container is spare id, else
// that the spare is gone (gone wraps runtime.ErrNotFound).
func (r *Runtime) claimedFor(ctx context.Context, id, ns string, gone error) error {
	c, err := r.inspectContainer(ctx, r.containerName(ns))
	if err == nil && c.Config.Labels[LabelSpare] == id {
		return nil
	}
	return fmt.Errorf("spare %s is gone (adopted or removed): %w", id, gone)
}

// completeAdoption moves a claimed spare from its own network onto the
// namespace's and applies spec's caps (steps 2 to 4).
func (r *Runtime) completeAdoption(ctx context.Context, log hclog.Logger, spec runtime.GatewaySpec, c container.InspectResponse) error {
	ns := spec.Namespace
	spareNet := r.spareGateway(c.Config.Labels[LabelSpare]).network
	strict := func(err error) error { return err }
	nsNet := r.networkName(ns)
	if c.NetworkSettings == nil {
		return fmt.Errorf("container %s has no network settings", shortID(c.ID))
	}
	if _, on := c.NetworkSettings.Networks[nsNet]; on && !r.onSpareNetwork(c) {
		// Moved already; only the spare's network may be left (a run cut
		// short between the connect and the removal).
		return r.removeNetworks(ctx, log, spareNet, strict)
	}

	// The caps and the network move touch different parts of the engine:
	// they run side by side, which takes a tenth of a second off the
	// tenant's first request.
	capsErr := make(chan error, 1)
	go func() { capsErr <- r.applyCaps(ctx, log, spec, c) }()
	subnet, err := r.leaveSpareNetwork(ctx, log, c, spareNet)
	if subnet.IsValid() {
		defer r.held.Delete(subnet)
	}
	if err != nil {
		<-capsErr
		return err
	}
	netID, err := r.ensureGatewayNetwork(ctx, r.namespaceGateway(ns), subnet)
	if err != nil {
		<-capsErr
		return err
	}
	if !onNetwork(c, netID, nsNet) {
		err := r.do(ctx, func(ctx context.Context) error {
			_, err := r.api.NetworkConnect(ctx, netID, client.NetworkConnectOptions{Container: c.ID})
			return err
		})
		if err != nil {
			// A concurrent run may have connected it meanwhile.
			now, ierr := r.inspectContainer(ctx, c.ID)
			if ierr != nil || !onNetwork(now, netID, nsNet) {
				<-capsErr
				return fmt.Errorf("connecting to network %s: %w", nsNet, err)
			}
		}
		log.Debug("adopted gateway connected to the namespace network", "network", nsNet, "subnet", subnet)
	}
	return <-capsErr
}

// leaveSpareNetwork disconnects a claimed spare from its own network and
// removes that network, returning its subnet for the namespace's network
// (zero when the network is gone already: a run cut short).
func (r *Runtime) leaveSpareNetwork(ctx context.Context, log hclog.Logger, c container.InspectResponse, spareNet string) (netip.Prefix, error) {
	var subnet netip.Prefix
	mine, err := r.ownNetworks(ctx, spareNet)
	if err != nil {
		return subnet, err
	}
	if len(mine) > 0 {
		if _, subnet, err = r.bridgeAddress(ctx, mine[0].ID, spareNet); err != nil {
			return netip.Prefix{}, err
		}
		// Held before the network goes; the caller lets go of it.
		r.held.Store(subnet, struct{}{})
	}
	if r.onSpareNetwork(c) {
		err := r.do(ctx, func(ctx context.Context) error {
			_, err := r.api.NetworkDisconnect(ctx, spareNet, client.NetworkDisconnectOptions{Container: c.ID})
			return err
		})
		if cerrdefs.IsNotFound(err) {
			// The spare's network is gone (pruned while the container was
			// stopped); force drops the container's stale endpoint config.
			err = r.do(ctx, func(ctx context.Context) error {
				_, err := r.api.NetworkDisconnect(ctx, spareNet, client.NetworkDisconnectOptions{Container: c.ID, Force: true})
				return err
			})
		}
		if err != nil {
			now, ierr := r.inspectContainer(ctx, c.ID)
			if ierr != nil || r.onSpareNetwork(now) {
				return subnet, fmt.Errorf("disconnecting from network %s: %w", spareNet, err)
			}
		}
		log.Debug("adopted gateway left the spare network", "network", spareNet)
	}
	// Removed now, not later: the namespace's network takes its subnet.
	if err := r.removeNetworks(ctx, log, spareNet, func(err error) error { return err }); err != nil {
		return subnet, err
	}
	return subnet, nil
}

// applyCaps updates the container's CPU, memory and pids caps to spec's
// when they differ. Docker cannot lift a cap live (0 means "unchanged" to
// an update), so an uncapped spec is applied as the engine's whole CPU count
// and memory, which caps nothing. Lowering the memory cap below what the
// gateway uses would get it OOM-killed (cgroup v2) or refused (v1): that is
// refused up front, as a failed precondition, when the cgroup is readable.
func (r *Runtime) applyCaps(ctx context.Context, log hclog.Logger, spec runtime.GatewaySpec, c container.InspectResponse) error {
	var cur container.Resources
	if c.HostConfig != nil {
		cur = c.HostConfig.Resources
	}
	nano, mem := spec.NanoCPUs, spec.MemoryBytes
	if nano != 0 || cur.NanoCPUs != 0 || (mem == 0 && cur.Memory != 0) {
		var res client.SystemInfoResult
		err := r.do(ctx, func(ctx context.Context) error {
			var err error
			res, err = r.api.Info(ctx, client.InfoOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("reading the engine's CPUs and memory for the caps: %w", err)
		}
		if nano == 0 && cur.NanoCPUs != 0 {
			nano = int64(res.Info.NCPU) * 1e9
		}
		// An update refuses more CPUs than the engine has (a create does
		// not): the cap is clamped to the host, as on the cold path.
		if host := int64(res.Info.NCPU) * 1e9; host > 0 && nano > host {
			log.Info("CPU cap above the host's CPUs; clamped to them", "asked_nano_cpus", nano, "host_cpus", res.Info.NCPU)
			nano = host
		}
		if mem == 0 && cur.Memory != 0 {
			mem = res.Info.MemTotal
		}
	}
	pids := cmp.Or(spec.PidsLimit, defaultPidsLimit)
	if nano == cur.NanoCPUs && mem == cur.Memory && (mem == 0 || cur.MemorySwap == mem) &&
		cur.PidsLimit != nil && *cur.PidsLimit == pids {
		return nil
	}

	if mem > 0 && (cur.Memory == 0 || mem < cur.Memory) && c.State != nil && c.State.Pid != 0 {
		if st, err := cgroupfs.ReadPid(c.State.Pid); err == nil && st.MemoryWorkingSet > uint64(mem) {
			return fmt.Errorf("the gateway uses %d MiB, more than the new memory cap of %d MiB: %w",
				st.MemoryWorkingSet>>20, mem>>20, cerrdefs.ErrFailedPrecondition)
		}
	}
	want := container.Resources{NanoCPUs: nano, PidsLimit: &pids}
	if mem > 0 {
		want.Memory, want.MemorySwap = mem, mem // no swap, as Create does
	}
	var res client.ContainerUpdateResult
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = r.api.ContainerUpdate(ctx, c.ID, client.ContainerUpdateOptions{Resources: &want})
		return err
	})
	if err != nil {
		return fmt.Errorf("applying caps (%d nano CPUs, %d MiB memory, %d pids): %w", nano, mem>>20, pids, err)
	}
	for _, w := range res.Warnings {
		log.Warn("docker warned about the new caps", "warning", w)
	}
	log.Info("caps applied", "nano_cpus", nano, "memory_bytes", mem, "pids_limit", pids)
	return nil
}
