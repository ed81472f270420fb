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

echo "ensure-docker: starting dockerd (log: /var/log/clawd-dockerd.log)" >&2
# setsid: the engine outlives the shell (and process group) that started it.
setsid nohup dockerd >/var/log/clawd-dockerd.log 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  if answers; then exit 0; fi
  sleep 0.5
done
echo "ensure-docker: dockerd did not answer within 30s; see /var/log/clawd-dockerd.log" >&2
exit 1
