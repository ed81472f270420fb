#!/usr/bin/env bash
# A small cluster of "hosts" on one machine, for clawd's cluster tests.
#
#   scripts/cluster.sh up [N]        N nodes (default 3) and a 3-member etcd
#   scripts/cluster.sh down          remove everything up made (idempotent)
#   scripts/cluster.sh env           print the cluster's variables (sh syntax)
#   scripts/cluster.sh run NODE CMD… run CMD on node NODE (n1, n2, …): in its
#                                    network namespace and cgroup, with
#                                    DOCKER_HOST set to the node's engine
#   scripts/cluster.sh kill NODE     crash NODE: SIGKILL every process in its
#                                    cgroup (engine, shims, gateways, clawd)
#   scripts/cluster.sh engine NODE   (re)start NODE's Docker engine
#   scripts/cluster.sh cut|heal NODE take NODE's link down / up again
#
# Each node is a network namespace with its own address on a test bridge,
# its own dockerd (own data root, exec root, socket, bridge, address pool,
# engine id and hostname) and its own cgroup; clawd-standin:latest is copied
# into every engine from the main one. The bridge lives in a "fabric"
# namespace joined to this one by a veth (a bridge here would go through
# the main engine's FORWARD chain, whose policy is DROP). The three etcd
# members run in the fabric namespace, so a node's cut link also cuts it
# from etcd. See ../shared/CLUSTER.md-style notes in README ("Cluster").
#
# Everything is named after CLAWDC_ID (default "0"; up to 6 letters or
# digits) so concurrent harnesses and the main engine are never touched:
# namespaces clawdc-ID-*, links ccID-*, cgroups clawdc-ID-*, state in
# CLAWDC_DIR (default /tmp/clawdc-ID). CLAWDC_NET (default 10.231.0) is the
# first three octets of the nodes' /24.
set -euo pipefail

ID=${CLAWDC_ID:-0}
if ! [[ $ID =~ ^[a-z0-9]{1,6}$ ]]; then
	echo "cluster.sh: CLAWDC_ID must be 1-6 lowercase letters or digits, not '$ID'" >&2
	exit 2
fi
NET=${CLAWDC_NET:-10.231.0}
DIR=${CLAWDC_DIR:-/tmp/clawdc-$ID}
P=clawdc-$ID # namespace and cgroup prefix
L=cc$ID      # link prefix (names are at most 15 bytes)
FAB=$P-fab
IMAGE=${CLAWDC_IMAGE:-clawd-standin:latest}
REPO=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "cluster.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

v2() { [ -f /sys/fs/cgroup/cgroup.controllers ]; }

# tracker is the cgroup directory whose tree holds every process of a node.
tracker() {
	if v2; then echo "/sys/fs/cgroup/$P-$1"; else echo "/sys/fs/cgroup/freezer/$P-$1"; fi
}

node_addr() { echo "$NET.$((10 + ${1#n}))"; }
sock() { echo "$DIR/$1/docker.sock"; }

# cg_pids lists every process in a cgroup tree.
cg_pids() {
	local d=$1
	[ -d "$d" ] || return 0
	find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true
}

# kill_tree SIGKILLs every process of a node until none is left (thawing
# it first: a frozen process cannot die).
kill_tree() {
	local d
	d=$(tracker "$1")
	[ -d "$d" ] || return 0
	if ! v2 && [ -f "$d/freezer.state" ]; then echo THAWED >"$d/freezer.state" 2>/dev/null || true; fi
	if v2 && [ -f "$d/cgroup.freeze" ]; then echo 0 >"$d/cgroup.freeze" 2>/dev/null || true; fi
	for _ in $(seq 100); do
		local pids
		pids=$(cg_pids "$d")
		[ -n "$pids" ] || return 0
		# shellcheck disable=SC2086
		kill -9 $pids 2>/dev/null || true
		sleep 0.1
	done
	log "processes of $1 survive SIGKILL: $(cg_pids "$d" | tr '\n' ' ')"
}

# rm_cgroups removes a node's cgroup directories, depth-first, in every
# hierarchy (containers' cgroups are made under /P-NODE/ctr in each).
rm_cgroups() {
	local d
	for d in /sys/fs/cgroup/$P-"$1" /sys/fs/cgroup/*/$P-"$1"; do
		[ -d "$d" ] || continue
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
}

build_etcd() {
	local bin=$DIR/bin/etcdmember
	[ -x "$bin" ] && return 0
	mkdir -p "$DIR/bin"
	(cd "$REPO" && go build -o "$bin" ./integration/cluster/etcdmember) || die "building etcdmember failed"
}

start_engine() {
	local n=$1 nd=$DIR/$1 t
	t=$(tracker "$n")
	mkdir -p "$nd/data" "$nd/exec" "$t/daemon"
	[ -f "$nd/daemon.json" ] || echo "{\"deprecated-key-path\": \"$nd/data/key.json\"}" >"$nd/daemon.json"
	rm -f "$(sock "$n")" "$nd/docker.pid"
	local i=${n#n}
	# nsenter, not ip netns exec (which remounts /sys and hides the cgroup
	# hierarchies dockerd needs); unshare --uts gives it its own hostname.
	setsid nsenter --net="/run/netns/$P-$n" unshare --uts sh -c '
		echo $$ > "$0/daemon/cgroup.procs"
		hostname "$1"
		shift
		exec "$@"' "$t" "$P-$n" \
		dockerd --config-file "$nd/daemon.json" --data-root "$nd/data" --exec-root "$nd/exec" \
		--pidfile "$nd/docker.pid" -H "unix://$(sock "$n")" --bip "172.30.$i.1/24" \
		--default-address-pool "base=172.31.0.0/16,size=24" --cgroup-parent "/$P-$n/ctr" \
		--log-level warn </dev/null >>"$nd/dockerd.log" 2>&1 &
	for _ in $(seq 300); do
		if docker -H "unix://$(sock "$n")" version >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	tail -20 "$nd/dockerd.log" >&2 || true
	die "the engine of $n did not answer in 30 s"
}

start_etcd() {
	local j initial="" pids=()
	for j in 1 2 3; do initial+="${initial:+,}e$j=http://$NET.1:2380$j"; done
	for j in 1 2 3; do
		setsid nsenter --net="/run/netns/$FAB" "$DIR/bin/etcdmember" -name "e$j" -data-dir "$DIR/etcd$j" \
			-client-url "http://$NET.1:2379$j" -peer-url "http://$NET.1:2380$j" -initial-cluster "$initial" \
			</dev/null >"$DIR/etcd$j.log" 2>&1 &
		echo $! >"$DIR/etcd$j.pid"
	done
	for _ in $(seq 300); do
		if grep -qx ready "$DIR/etcd1.log" && grep -qx ready "$DIR/etcd2.log" && grep -qx ready "$DIR/etcd3.log"; then return 0; fi
		sleep 0.1
	done
	tail -5 "$DIR"/etcd*.log >&2 || true
	die "etcd did not become ready in 30 s"
}

endpoints() { echo "http://$NET.1:23791,http://$NET.1:23792,http://$NET.1:23793"; }

cmd_env() {
	[ -f "$DIR/nodes" ] || die "no cluster $ID is up (no $DIR/nodes)"
	echo "CLAWDC_ID=$ID"
	echo "CLAWDC_DIR=$DIR"
	echo "CLAWDC_ETCD=$(endpoints)"
	echo "CLAWDC_NODES=\"$(cat "$DIR/nodes")\""
	local n
	for n in $(cat "$DIR/nodes"); do
		echo "CLAWDC_${n^^}_ADDR=$(node_addr "$n")"
		echo "CLAWDC_${n^^}_DOCKER=unix://$(sock "$n")"
	done
}

cmd_up() {
	local count=${1:-3}
	[[ $count =~ ^[1-9]$ ]] || die "up: the node count must be 1-9, not '$count'"
	[ "$(id -u)" = 0 ] || die "up needs root (network namespaces, dockerd)"
	command -v dockerd >/dev/null || die "up needs dockerd"
	docker image inspect "$IMAGE" >/dev/null 2>&1 || die "image $IMAGE is missing from the main engine (make standin-image)"
	cmd_down
	mkdir -p "$DIR"
	build_etcd

	ip netns add "$FAB"
	ip -n "$FAB" link set lo up
	ip -n "$FAB" link add br0 type bridge
	ip -n "$FAB" addr add "$NET.1/24" dev br0
	ip -n "$FAB" link set br0 up
	# This namespace's door to the fabric: tests reach nodes through it.
	ip link add "$L-h" type veth peer name "$L-hp"
	ip link set "$L-hp" netns "$FAB"
	ip -n "$FAB" link set "$L-hp" master br0 up
	ip addr add "$NET.254/24" dev "$L-h"
	ip link set "$L-h" up

	docker save "$IMAGE" >"$DIR/image.tar"
	local i n nodes=""
	for i in $(seq "$count"); do
		n=n$i
		nodes+="${nodes:+ }$n"
		ip netns add "$P-$n"
		ip -n "$P-$n" link set lo up
		ip link add "$L-$n" type veth peer name "$L-${n}e"
		ip link set "$L-${n}e" netns "$P-$n"
		ip -n "$P-$n" link set "$L-${n}e" name eth0
		ip -n "$P-$n" addr add "$(node_addr "$n")/24" dev eth0
		ip -n "$P-$n" link set eth0 up
		ip link set "$L-$n" netns "$FAB"
		ip -n "$FAB" link set "$L-$n" master br0 up
	done
	echo "$nodes" >"$DIR/nodes"
	start_etcd
	for n in $nodes; do
		start_engine "$n"
		docker -H "unix://$(sock "$n")" load -q <"$DIR/image.tar" >/dev/null
	done
	rm -f "$DIR/image.tar"
	log "cluster $ID up: nodes $nodes, etcd $(endpoints)"
}

cmd_down() {
	local n d pid
	# Nodes: every process, then what the engines left behind.
	for d in /sys/fs/cgroup/$P-n* /sys/fs/cgroup/freezer/$P-n*; do
		[ -d "$d" ] || continue
		n=${d##*/$P-}
		kill_tree "$n"
	done
	for pid in "$DIR"/etcd*.pid; do
		[ -f "$pid" ] || continue
		pid=$(cat "$pid")
		if grep -q etcdmember "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
	done
	# Shim sockets live outside the exec root; each task's address file says where.
	if [ -d "$DIR" ]; then
		find "$DIR" -path '*io.containerd.runtime.v2.task*' -name address 2>/dev/null | while read -r a; do
			s=$(sed 's|^unix://||' "$a" 2>/dev/null || true)
			case $s in /run/containerd/s/*) rm -f "$s" ;; esac
		done
		awk -v d="$DIR" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
			umount -l "$m" 2>/dev/null || true
		done
	fi
	for d in /sys/fs/cgroup/$P-n* /sys/fs/cgroup/*/$P-n*; do
		[ -d "$d" ] || continue
		rm_cgroups "${d##*/$P-}"
	done
	for n in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do
		ip netns del "$n" 2>/dev/null || true
	done
	ip link del "$L-h" 2>/dev/null || true
	rm -rf "$DIR"
}

cmd_run() {
	local n=${1:?run NODE CMD…}
	shift
	[ -e "/run/netns/$P-$n" ] || die "no node $n in cluster $ID"
	local t
	t=$(tracker "$n")/run
	mkdir -p "$t"
	exec nsenter --net="/run/netns/$P-$n" sh -c 'echo $$ > "$0/cgroup.procs"; exec "$@"' "$t" \
		env DOCKER_HOST="unix://$(sock "$n")" CLAWDC_NODE="$n" CLAWDC_ADDR="$(node_addr "$n")" "$@"
}

case ${1:-} in
up) cmd_up "${2:-3}" ;;
down) cmd_down ;;
env) cmd_env ;;
run) shift && cmd_run "$@" ;;
kill) kill_tree "${2:?kill NODE}" ;;
engine) start_engine "${2:?engine NODE}" ;;
cut) ip -n "$FAB" link set "$L-${2:?cut NODE}" down ;;
heal) ip -n "$FAB" link set "$L-${2:?heal NODE}" up ;;
*)
	sed -n '2,13p' "$0" >&2
	exit 2
	;;
esac
