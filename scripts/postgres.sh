#!/usr/bin/env bash
# Starts the PostgreSQL server the ledger's tests use, and prints
#   export CLAWD_TEST_POSTGRES_DSN=postgres://…
# on stdout (everything else goes to stderr), so `eval "$(bash scripts/postgres.sh)"`
# sets it. Idempotent: a DSN already set that answers, or the cluster this
# script started before, is reused; otherwise a cluster is made under
# $PGDIR (default /tmp/clawd-pg) and started on 127.0.0.1:$PGPORT (default
# 55432) and a unix socket in $PGDIR/sock, trust auth (local test use only).
# PostgreSQL refuses to run as root: as root the cluster belongs to a system
# user (clawdpg, created when missing) and runs through runuser.
set -euo pipefail

PGDIR=${PGDIR:-/tmp/clawd-pg}
PGPORT=${PGPORT:-55432}
PGUSER_OS=${PGUSER_OS:-clawdpg}
DSN="postgres://postgres@127.0.0.1:${PGPORT}/postgres?sslmode=disable"

log() { echo "postgres.sh: $*" >&2; }

answers() { # dsn
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -d "$1" >/dev/null 2>&1
  else
    local hp=${1#*@}; hp=${hp%%/*}
    (exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}") 2>/dev/null
  fi
}

if [ -n "${CLAWD_TEST_POSTGRES_DSN:-}" ] && answers "$CLAWD_TEST_POSTGRES_DSN"; then
  echo "export CLAWD_TEST_POSTGRES_DSN='$CLAWD_TEST_POSTGRES_DSN'"
  exit 0
fi
if answers "$DSN"; then
  echo "export CLAWD_TEST_POSTGRES_DSN='$DSN'"
  exit 0
fi

# The server binaries: PATH, then Debian's layout, then Debian's package.
find_bin() {
  local b=$1 d
  if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/$b" ] && { echo "$d/$b"; return; }
  done
  return 1
}
if ! find_bin initdb >/dev/null || ! find_bin pg_ctl >/dev/null || ! find_bin postgres >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "initdb/pg_ctl/postgres not found; install PostgreSQL (Debian: apt-get install postgresql) or set CLAWD_TEST_POSTGRES_DSN"
    exit 1
  fi
  log "installing postgresql from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
INITDB=$(find_bin initdb); PGCTL=$(find_bin pg_ctl)

as_owner() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  if ! id "$PGUSER_OS" >/dev/null 2>&1; then
    log "creating system user $PGUSER_OS"
    useradd -r -M -d "$PGDIR" -s /usr/sbin/nologin "$PGUSER_OS"
  fi
  as_owner() { runuser -u "$PGUSER_OS" -- "$@"; }
  mkdir -p "$PGDIR"
  chown "$PGUSER_OS" "$PGDIR"
else
  mkdir -p "$PGDIR"
fi

if [ ! -s "$PGDIR/data/PG_VERSION" ]; then
  log "initdb in $PGDIR/data"
  rm -rf "$PGDIR/data"
  as_owner "$INITDB" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C >"$PGDIR/initdb.log" 2>&1 || {
    cat "$PGDIR/initdb.log" >&2; exit 1; }
fi
as_owner mkdir -p "$PGDIR/sock"

# A stale postmaster.pid of a killed server is handled by pg_ctl itself.
log "starting on 127.0.0.1:$PGPORT"
as_owner "$PGCTL" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR/sock -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=2GB" \
  start >&2 || { tail -n 30 "$PGDIR/server.log" >&2 || true; exit 1; }

for _ in $(seq 1 60); do
  if answers "$DSN"; then
    echo "export CLAWD_TEST_POSTGRES_DSN='$DSN'"
    exit 0
  fi
  sleep 0.5
done
log "server did not answer on $DSN; see $PGDIR/server.log"
exit 1
