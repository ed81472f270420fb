#!/usr/bin/env bash
# Installs the Debian tools the tests use besides Docker: pebble and
# pebble-challtestsrv (a local ACME CA and its DNS) for the router's TLS
# test. A no-op when they are there; CI machines start without them.
set -euo pipefail

need=()
command -v pebble >/dev/null 2>&1 && command -v pebble-challtestsrv >/dev/null 2>&1 || need+=(pebble)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tools: missing ${need[*]}; install them (Debian: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "ensure-tools: installing ${need[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
