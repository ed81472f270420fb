#!/usr/bin/env bash
# Installs the tools the tests use besides Docker: pebble and
# pebble-challtestsrv (a local ACME CA and its DNS) for the router's TLS
# test, Debian's Prometheus server for the metering scrape test (it is only
# run by that test, never as a service), Debian's Chromium, and playwright-core (pinned in
# integration/browser/package-lock.json, no browser download) to drive it
# for the Control UI checks. A no-op when they are there; CI machines start
# without them.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v pebble >/dev/null 2>&1 && command -v pebble-challtestsrv >/dev/null 2>&1 || need+=(pebble)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -f /usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf ] || need+=(fonts-arphic-gbsn00lp)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
# capped volumes (mkfs.ext4, resize2fs), the cluster harness (ip, nsenter, unshare)
command -v mkfs.ext4 >/dev/null 2>&1 && command -v resize2fs >/dev/null 2>&1 || need+=(e2fsprogs)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1 || need+=(util-linux)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: missing ${need[*]}; install them (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "ensure-tools: installing ${need[*]} from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian starts the packaged Prometheus as a service where it can; the
  # test runs its own.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
fi

# playwright-core for integration/browser, exactly as locked. It downloads
# no browser: the scripts launch /usr/bin/chromium.
browser=integration/browser
want=$(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/\1/p' "$browser/package.json" | head -n1)
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$browser/node_modules/playwright-core/package.json" 2>/dev/null | head -n1 || true)
if [ -z "$want" ] || [ "$have" != "$want" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "ensure-tools: npm is missing; install Node.js 20+ and npm, then run: (cd $browser && npm ci)" >&2
    exit 1
  fi
  echo "ensure-tools: installing playwright-core ${want:-?} in $browser (npm ci)" >&2
  (cd "$browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

# esbuild and uPlot for the operator console (console/web), exactly as
# locked: `go test ./console` rebuilds the bundle and compares it with the
# committed console/dist.
web=console/web
if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "ensure-tools: installing the console's build tools in $web (npm ci)" >&2
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
