#!/usr/bin/env bash
# Makes sure a Docker engine answers: starts dockerd when it is installed but
# not running, installs Debian's docker.io first when we are root on Debian.
set -euo pipefail

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if answers; then exit 0; fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-docker: no Docker engine installed; installing Debian's docker.io" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
  else
    echo "ensure-docker: no Docker engine answers and dockerd is not installed; install Docker (e.g. 'apt-get install docker.io') and retry" >&2
    exit 1
  fi
fi
if ! command -v docker >/dev/null 2>&1; then
  apt-get install -y -qq docker.io >/dev/null
fi

if [ "$(id -u)" != 0 ]; then
  echo "ensure-docker: dockerd is installed but not running; start it (e.g. 'sudo systemctl start docker') and retry" >&2
  exit 1
fi

log=/var/log/clawd-dockerd.log
start() {
  echo "ensure-docker: starting dockerd (log: $log)" >&2
  # setsid: the engine outlives the shell (and process group) that started it.
  setsid nohup dockerd >"$log" 2>&1 < /dev/null &
  pid=$!
  for _ in $(seq 1 60); do
    if answers; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then return 2; fi
    sleep 0.5
  done
  return 1
}

rc=0; start || rc=$?
if [ "$rc" = 2 ] && grep -q 'panic:' "$log" && grep -q 'libnetwork' "$log"; then
  # An engine killed while it was making or removing a network can leave
  # its network store half-written, and every later start panics in
  # libnetwork. Recovery: set the store aside (Docker makes a new one; all
  # containers are stopped after an engine restart anyway) and delete the
  # kernel bridges of the networks it forgets, so that none of them keeps
  # a subnet's route that a new network would be given.
  kv=/var/lib/docker/network/files/local-kv.db
  echo "ensure-docker: dockerd panicked in libnetwork; setting $kv aside and retrying" >&2
  mv "$kv" "$kv.broken.$(date +%s)" 2>/dev/null || true
  for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep '^br-' || true); do
    ip link del "$br" 2>/dev/null || true
  done
  rc=0; start || rc=$?
fi
if [ "$rc" = 0 ]; then exit 0; fi
echo "ensure-docker: dockerd did not answer within 30s; see $log" >&2
exit 1
