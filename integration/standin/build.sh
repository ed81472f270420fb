#!/usr/bin/env bash
# Builds the stand-in gateway binary and its image clawd-standin:latest
# (override with STANDIN_IMAGE). Works from any directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
image="${STANDIN_IMAGE:-clawd-standin:latest}"

cd "$root"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o integration/standin/standin ./integration/standin

# Git keeps no directory modes; OpenClaw wants its state dir private.
chmod 0700 integration/standin/rootfs/home/node/.openclaw
chmod 0755 integration/standin/rootfs/home/node integration/standin/rootfs/home/node/skills

# The label names the sources built, so the tests rebuild a stale image
# (integration/harness_test.go, standinSource).
docker build -q --label "clawd.standin.source=${STANDIN_SOURCE:-}" -t "$image" integration/standin >/dev/null
echo "built $image"
