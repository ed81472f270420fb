package docker

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// MetadataRange is the IPv4 link-local range, where clouds serve instance
// metadata (169.254.169.254: credentials of the host's role, user data).
const MetadataRange = "169.254.0.0/16"

// iptablesFunc runs iptables with args; tests replace it.
type iptablesFunc func(ctx context.Context, args ...string) ([]byte, error)

func runIptables(ctx context.Context, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, "iptables", append([]string{"-w"}, args...)...).CombinedOutput()
}

// BlockMetadata makes MetadataRange unreachable from every gateway network.
// Docker has no per-container egress filter, and a gateway cannot drop a
// route of its own (no NET_ADMIN), so the host does it: one REJECT rule for
// the subnet pool in DOCKER-USER (the chain Docker keeps for its operators'
// rules and evaluates first for traffic it forwards), which covers a
// metadata service behind the host's router, and one in INPUT, which covers
// a link-local address of the host itself. REJECT, not DROP: a tool gets a
// refusal at once instead of hanging. Idempotent (checked with -C before an
// insert) and never removed: the rules name only clawd's pool, and a
// gateway must not win access back in a window of a restart.
func (r *Runtime) BlockMetadata(ctx context.Context) error {
	if !r.subnets.enabled() {
		return errors.New("blocking metadata addresses: no subnet pool, so gateway traffic cannot be told from other containers' (set the runtime's subnet pool)")
	}
	for _, chain := range []string{"DOCKER-USER", "INPUT"} {
		rule := []string{chain, "-s", r.subnets.pool.String(), "-d", MetadataRange, "-j", "REJECT"}
		cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
		_, err := r.iptables(cctx, append([]string{"-C"}, rule...)...)
		if err == nil {
			cancel()
			continue
		}
		out, err := r.iptables(cctx, append([]string{"-I"}, rule...)...)
		cancel()
		if err != nil {
			return fmt.Errorf("blocking metadata addresses: iptables -I %s: %w: %s", strings.Join(rule, " "), err, strings.TrimSpace(string(out)))
		}
		r.log.Info("metadata addresses blocked for gateways", "chain", chain, "source", r.subnets.pool.String(), "destination", MetadataRange)
	}
	return nil
}
