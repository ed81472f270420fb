#!/usr/bin/env bash
# make bench-router: the router's forwarding speed beside the same backend
# reached directly and through nginx, in one run. It prints figures and
# asserts nothing.
#
# Backend: the stand-in gateway of one namespace ("bench", --quota-cpu=1),
# started by a real `clawd up` (daemon A) and its supervisor. Every row hits
# that one container:
#   (a) direct      wrk → container
#   (b) host        wrk → daemon A's router (Host: bench.localhost) → container
#   (c) key         wrk → daemon A's router (X-API-Key, a Host no namespace owns)
#   (d) nginx       wrk → nginx (Debian, keep-alive upstream) → container
#   (b) and (c) 10k the same through daemon B, whose tables hold 10,000 more
#                   namespaces (one hostname each) and 10,000 more keys.
#   (e) quota       (b) 10k for a namespace with an api.requestsPerHour it
#                   never reaches (quota.bench.localhost, the same gateway):
#                   every request is counted against it.
#   (f) cross-node  wrk → daemon C's router (Host: bench.localhost) → mutual
#                   TLS → daemon A's peer listener → A's router → container:
#                   C is a second node of A's cluster (A's etcd, the same
#                   secrets key), the hop of a request that reaches the
#                   wrong node. Its CPU column counts C and A together.
#   (f) pinned      on a 2-core box both nodes pay two routers out of one
#                   CPU budget: these two rows give each node a core of its
#                   own (taskset, all threads), two one-core hosts; beside
#                   them (b) with daemon A pinned to one core, one one-core
#                   host. wrk and the gateway stay unpinned, as before.
# Daemon B is a second router node: router/bench/seed writes its namespaces
# straight into B's etcd, all placed on daemon A's node (Spec.Node), so B's
# supervisor starts no container and makes no Docker call, and B routes
# "bench" to the gateway A runs, as a router in a cluster would. Two daemons
# let the 1-entry and 10k-entry rows run back to back, so load from other
# work on the host shifts both alike. Both daemons run without a warm pool.
#
# Per cross row it also prints each node's CPU time and read+write system
# calls per request (/proc/PID/io), beside the own node's.
# Knobs: BENCH_DURATION (8s), BENCH_CONNS ("64 256"), BENCH_PATH (/healthz),
# BENCH_SEED (10000), BENCH_ROUNDS (2), BENCH_ROWS (every row: "direct host
# host10k quota nginx key key10k cross hostpin crosspin"), BENCH_CLAWD (a
# clawd binary to measure instead of building this tree's).
set -euo pipefail
START=$SECONDS

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-8s}
CONNS=${BENCH_CONNS:-"64 256"}
URLPATH=${BENCH_PATH:-/healthz}
SEED=${BENCH_SEED:-10000}
ROUNDS=${BENCH_ROUNDS:-2}
ROWS=${BENCH_ROWS:-"direct host host10k quota nginx key key10k cross hostpin crosspin"}
IMAGE=clawd-standin:latest
GO=${GO:-go}

log() { echo "bench-router: $*" >&2; }

# --- tools ------------------------------------------------------------------
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "need ${missing[*]}: install them (Debian: apt-get install ${missing[*]}) and retry"
    exit 1
  fi
  log "installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  # The package starts a system nginx on :80; the bench runs its own.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
bash scripts/ensure-docker.sh
docker image inspect "$IMAGE" >/dev/null 2>&1 || bash integration/standin/build.sh

WORK=$(mktemp -d /tmp/clawd-bench-router.XXXXXX)
chmod 755 "$WORK"
log "building clawd and the seeder"
if [ -n "${BENCH_CLAWD:-}" ]; then
  cp "$BENCH_CLAWD" "$WORK/clawd"
else
  CGO_ENABLED=0 $GO build -trimpath -o "$WORK/clawd" ./cmd/clawd
fi
$GO build -o "$WORK/seed" ./router/bench/seed

# --- ports ------------------------------------------------------------------
# Below the ephemeral range, and not in use by any socket, listening or not.
used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
next_port=$((12000 + RANDOM % 16000))
# port NAME sets NAME to the next free port (no subshell: it keeps count).
port() {
  while grep -qx "$next_port" <<<"$used"; do next_port=$((next_port + 1)); done
  printf -v "$1" %d "$next_port"
  next_port=$((next_port + 1))
}
port NP

# --- daemons ----------------------------------------------------------------
NGINX_STARTED=""
declare -A PID CLUSTER RP AP EC
cleanup() {
  set +e
  if [ -n "$NGINX_STARTED" ]; then "$NGINX" -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -s stop 2>/dev/null; fi
  for d in c b a; do
    if [ -n "${PID[$d]:-}" ] && kill -0 "${PID[$d]}" 2>/dev/null; then
      [ $d = a ] && clawd_a namespace delete bench --purge >/dev/null 2>&1
      kill -INT "${PID[$d]}"; wait "${PID[$d]}" 2>/dev/null
    fi
  done
  for d in a b; do
    [ -n "${CLUSTER[$d]:-}" ] || continue
    f="label=io.clawd.cluster=${CLUSTER[$d]}"
    ids=$(docker ps -aq --filter "$f"); [ -n "$ids" ] && docker rm -f $ids >/dev/null
    ids=$(docker network ls -q --filter "$f"); [ -n "$ids" ] && docker network rm $ids >/dev/null
    ids=$(docker volume ls -q --filter "$f"); [ -n "$ids" ] && docker volume rm -f $ids >/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

NODE_A=bench-a-$$
# start_daemon NAME [FLAGS]: runs `clawd up` with its own ports, data dir and etcd.
start_daemon() {
  local d=$1 p
  shift
  port p; RP[$d]=$p; port p; AP[$d]=$p; port p; EC[$d]=$p; port p
  "$WORK/clawd" up --datadir="$WORK/$d" --router.address=127.0.0.1:${RP[$d]} --api.address=127.0.0.1:${AP[$d]} \
    --etcd.clienturl=http://127.0.0.1:${EC[$d]} --etcd.peerurl=http://127.0.0.1:$p \
    --gateway.image=$IMAGE --node.name=bench-$d-$$ --warmpool.size=0 --memory.zram=off --log.level=warn --modelgw.address=:0 "$@" \
    >"$WORK/$d.out" 2>"$WORK/$d.log" &
  PID[$d]=$!
}
# wait_daemon NAME: until it prints that it is up.
wait_daemon() {
  local d=$1
  for _ in $(seq 1 180); do
    grep -q '^clawd is up' "$WORK/$d.out" 2>/dev/null && break
    kill -0 "${PID[$d]}" 2>/dev/null || { cat "$WORK/$d.log" >&2; exit 1; }
    sleep 0.5
  done
  grep -q '^clawd is up' "$WORK/$d.out" || { log "daemon $d did not come up"; cat "$WORK/$d.log" >&2; exit 1; }
  CLUSTER[$d]=$(sed -n 's/^clawd is up.*cluster \([^)]*\)).*/\1/p' "$WORK/$d.out")
}
clawd_a() { CLAWD_ADDR=http://127.0.0.1:${AP[a]} CLAWD_DATADIR=$WORK/a CLAWD_TOKEN= "$WORK/clawd" "$@"; }
clawd_b() { CLAWD_ADDR=http://127.0.0.1:${AP[b]} CLAWD_DATADIR=$WORK/b CLAWD_TOKEN= "$WORK/clawd" "$@"; }

log "starting daemons A, B and C (a second node of A's cluster)"
SECRETS_KEY=$(head -c 32 /dev/urandom | base64)
port PEER_A
start_daemon a --node.peeraddress=127.0.0.1:$PEER_A --secrets.key="$SECRETS_KEY"
# B's namespaces are placed on A's node, which never holds a lease in B's
# etcd: without a long grace B would declare it gone and fail them all.
start_daemon b --node.grace=720h
wait_daemon a
start_daemon c --etcd.endpoints=http://127.0.0.1:${EC[a]} --secrets.key="$SECRETS_KEY"
wait_daemon b
wait_daemon c
# The Host rows reach the namespace without a key, as a public site would.
clawd_a config set 'namespaces.*.auth.requireKey' false >/dev/null
clawd_b config set 'namespaces.*.auth.requireKey' false >/dev/null

clawd_a namespace create bench --hostname=bench.localhost --quota-cpu=1 --min-instances=1 --warmup-on-create=false >/dev/null
BACKEND=$(clawd_a namespace get bench -o json | sed -n 's/.*"address": *"\([^"]*\)".*/\1/p' | head -1)
[ -n "$BACKEND" ] || { log "namespace bench has no address"; exit 1; }
KEY=$(clawd_a apikey create --namespace=bench --name=bench --rate-limit=1000000000/second 2>/dev/null | sed -n 's/^API Key: //p')
[ -n "$KEY" ] || { log "no API key"; exit 1; }

log "seeding $SEED namespaces and $SEED keys into daemon B's etcd"
KEY10K=$("$WORK/seed" -etcd "http://127.0.0.1:${EC[b]}" -namespaces "$SEED" -node "$NODE_A" -backend "$BACKEND" -workers 128)

status() { curl -s -o /dev/null -w '%{http_code}' "$@" || true; }
# The bench namespace and its key are written last: once B serves that key
# on that host, both of its tables are complete (each watch is ordered).
for _ in $(seq 1 600); do
  code=$(status -H "Host: bench.localhost" -H "X-API-Key: $KEY10K" "http://127.0.0.1:${RP[b]}$URLPATH")
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || { log "daemon B never served the seeded tables ($code)"; cat "$WORK/b.log" >&2; exit 1; }

# --- nginx ------------------------------------------------------------------
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
chmod 777 "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  # Like clawd's default access log: every request, buffered, flushed each second.
  access_log $WORK/nginx/logs/access.log combined buffer=64k flush=1s;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  upstream gateway { server $BACKEND; keepalive 256; }
  server {
    listen 127.0.0.1:$NP;
    location / {
      proxy_pass http://gateway;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Host \$http_host;
      proxy_set_header X-Forwarded-Proto \$scheme;
      # Like clawd's router: stream replies (SSE) instead of buffering them.
      proxy_buffering off;
    }
  }
}
EOF
"$NGINX" -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log"
NGINX_STARTED=1

# --- measure ----------------------------------------------------------------
URL_DIRECT=http://$BACKEND$URLPATH
URL_A=http://127.0.0.1:${RP[a]}$URLPATH
URL_B=http://127.0.0.1:${RP[b]}$URLPATH
URL_NGINX=http://127.0.0.1:$NP$URLPATH
URL_C=http://127.0.0.1:${RP[c]}$URLPATH
for check in "$URL_DIRECT" "$URL_A -H Host:bench.localhost" "$URL_A -H X-API-Key:$KEY" \
             "$URL_B -H Host:bench.localhost" "$URL_B -H Host:quota.bench.localhost" "$URL_B -H X-API-Key:$KEY10K" "$URL_NGINX" \
             "$URL_C -H Host:bench.localhost"; do
  code=$(status $check)
  [ "$code" = 200 ] || { log "$check answers $code, want 200"; exit 1; }
done

# ms converts wrk's 850.00us / 1.23ms / 1.02s to milliseconds.
ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

declare -A RPS P50 P99 ERR CPU CPUC SYS SYSC
# The proxy processes each row runs through, for its CPU time per request:
# on a shared host that is steadier than requests per second.
declare -A PROCS=([host]=${PID[a]} [key]=${PID[a]} [host10k]=${PID[b]} [key10k]=${PID[b]} [quota]=${PID[b]} [cross]="${PID[c]} ${PID[a]}"
  [hostpin]=${PID[a]} [crosspin]="${PID[c]} ${PID[a]}"
  [nginx]="$(cat "$WORK/nginx/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx/nginx.pid")" | tr '\n' ' ')")
# ticks PID...: their user+system CPU time, in clock ticks.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
HZ=$(getconf CLK_TCK)
# sysrw PID...: their read and write system calls so far (/proc/PID/io).
sysrw() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^sysc[rw]:/ {n += $2} END {print n}' "/proc/$p/io"))); done; echo $t; }
# run NAME CONNS URL [wrk args]: one wrk run, its figures added to NAME/CONNS.
run() {
  local name=$1 c=$2 url=$3; shift 3
  wrk -t2 -c"$c" -d1s "$@" "$url" >/dev/null 2>&1 || true # warm the pools
  local t0=0 t1=0 procs=${PROCS[$name]:-}
  [ -n "$procs" ] && t0=$(ticks $procs)
  # Of a cross row, node C's share apart (the rest is A's).
  local c0=0 c1=0 s0=0 s1=0 sc0=0 sc1=0
  [ -n "$procs" ] && s0=$(sysrw $procs)
  [[ $name == cross* ]] && c0=$(ticks "${PID[c]}") && sc0=$(sysrw "${PID[c]}")
  local out; out=$(wrk -t2 -c"$c" -d"$DURATION" --latency "$@" "$url")
  [ -n "$procs" ] && t1=$(ticks $procs) && s1=$(sysrw $procs)
  [[ $name == cross* ]] && c1=$(ticks "${PID[c]}") && sc1=$(sysrw "${PID[c]}")
  local rps p50 p99 bad errs k=$name/$c n
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  # A run that completed nothing (every request timed out) has no CPU per request.
  [ "${n:-0}" -gt 0 ] 2>/dev/null || procs=""
  [ -n "$procs" ] && CPU[$k]="${CPU[$k]:-} $(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
  [ -n "$procs" ] && [[ $name == cross* ]] && CPUC[$k]="${CPUC[$k]:-} $(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
  [ -n "$procs" ] && SYS[$k]="${SYS[$k]:-} $(awk -v t=$((s1 - s0)) -v n="$n" 'BEGIN { printf "%.2f", t / n }')"
  [ -n "$procs" ] && [[ $name == cross* ]] && SYSC[$k]="${SYSC[$k]:-} $(awk -v t=$((sc1 - sc0)) -v n="$n" 'BEGIN { printf "%.2f", t / n }')"
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
  p50=$(ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
  errs=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' <<<"$out")
  RPS[$k]="${RPS[$k]:-} $rps"; P50[$k]="${P50[$k]:-} $p50"; P99[$k]="${P99[$k]:-} $p99"
  ERR[$k]=$(( ${ERR[$k]:-0} + ${bad:-0} + ${errs:-0} ))
  log "$name c=$c: $rps req/s, p50 $p50 ms, p99 $p99 ms"
  # What the errors were (non-2xx answers, or connect/read/write/timeout).
  [ $(( ${bad:-0} + ${errs:-0} )) -gt 0 ] && log "$name c=$c errors: $(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr -s ' \n' ' ')"
  return 0
}
# pin CPU PID...: every thread of the processes on that CPU; unpin: back
# on all of them.
ALLCPUS=0-$(($(nproc) - 1))
pin() { local cpu=$1 p; shift; for p in "$@"; do taskset -a -p -c "$cpu" "$p" >/dev/null; done; }
unpin() { pin "$ALLCPUS" "$@"; }
# mean of a list of numbers.
mean() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf (NF ? "%.2f" : "-"), (NF ? s / NF : 0) }' <<<"$1"; }

# Rounds alternate the order (ABBA), so a drift in the host's load during
# the run weighs on every row alike; each figure is the mean of the rounds.
PLAN=()
for c in $CONNS; do
  for r in direct host host10k quota nginx key key10k cross hostpin crosspin; do
    [[ " $ROWS " == *" $r "* ]] && PLAN+=("$r/$c")
  done
done
for round in $(seq 1 "$ROUNDS"); do
  for step in "${PLAN[@]}"; do
    r=${step%/*} c=${step#*/}
    case $r in
      direct) run direct "$c" "$URL_DIRECT" ;;
      host) run host "$c" "$URL_A" -H "Host: bench.localhost" ;;
      host10k) run host10k "$c" "$URL_B" -H "Host: bench.localhost" ;;
      quota) run quota "$c" "$URL_B" -H "Host: quota.bench.localhost" ;;
      nginx) run nginx "$c" "$URL_NGINX" ;;
      key) run key "$c" "$URL_A" -H "X-API-Key: $KEY" ;;
      key10k) run key10k "$c" "$URL_B" -H "X-API-Key: $KEY10K" ;;
      cross) run cross "$c" "$URL_C" -H "Host: bench.localhost" ;;
      hostpin)
        pin 0 "${PID[a]}"
        run hostpin "$c" "$URL_A" -H "Host: bench.localhost"
        unpin "${PID[a]}" ;;
      crosspin)
        pin 0 "${PID[c]}"; pin 1 "${PID[a]}"
        run crosspin "$c" "$URL_C" -H "Host: bench.localhost"
        unpin "${PID[c]}" "${PID[a]}" ;;
    esac
  done
  # The next round goes the other way.
  for ((i = 0, j = ${#PLAN[@]} - 1; i < j; i++, j--)); do
    t=${PLAN[i]}; PLAN[i]=${PLAN[j]}; PLAN[j]=$t
  done
done
for k in "${!RPS[@]}"; do
  RPS[$k]=$(mean "${RPS[$k]}" | sed 's/\..*//'); P50[$k]=$(mean "${P50[$k]}"); P99[$k]=$(mean "${P99[$k]}")
  CPU[$k]=$(mean "${CPU[$k]:-}" | sed 's/\(\.[0-9]\)[0-9]*/\1/')
  [ -n "${CPUC[$k]:-}" ] && CPUC[$k]=$(mean "${CPUC[$k]}" | sed 's/\(\.[0-9]\)[0-9]*/\1/')
  [ -n "${SYS[$k]:-}" ] && SYS[$k]=$(mean "${SYS[$k]}" | sed 's/\(\.[0-9]\)[0-9]*/\1/')
  [ -n "${SYSC[$k]:-}" ] && SYSC[$k]=$(mean "${SYSC[$k]}" | sed 's/\(\.[0-9]\)[0-9]*/\1/')
done

# --- report -----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", a - b }'; }
echo
echo "clawd router vs nginx, same backend (stand-in gateway, 1 CPU, GET $URLPATH), wrk -t2 -d$DURATION, $(nproc) cores, mean of $ROUNDS rounds"
echo "both log every request (clawd's default JSON access log, nginx's combined log), buffered and flushed each second;"
echo "CPU µs/req: the proxy's own CPU time (clawd daemon, or nginx master and workers) per request;"
echo "clawd GOMAXPROCS: ${GOMAXPROCS:-its default ($(nproc) CPUs: $([ "$(nproc)" -le 2 ] && echo 1 || nproc))}, nginx: worker_processes auto ($(nproc))"
printf '%-26s %5s %9s %8s %8s %9s %9s %9s %9s %6s\n' "path" "conns" "req/s" "p50 ms" "p99 ms" "÷nginx" "÷direct" "+p99 ms" "CPU µs/req" "errors"
for c in $CONNS; do
  for r in direct host key nginx host10k key10k quota cross hostpin crosspin; do
    [ -n "${RPS[$r/$c]:-}" ] || continue
    case $r in
      direct) label="(a) direct" ;;
      host) label="(b) clawd by Host" ;;
      key) label="(c) clawd by API key" ;;
      nginx) label="(d) nginx" ;;
      host10k) label="(b) by Host, 10k table" ;;
      key10k) label="(c) by key, 10k table" ;;
      quota) label="(e) by Host, 10k, quota" ;;
      cross) label="(f) by Host, via node C" ;;
      hostpin) label="(b) A on 1 core" ;;
      crosspin) label="(f) C, A on a core each" ;;
    esac
    vn="-"; vd="-"; ap="-"
    if [ "$r" != direct ] && [ -n "${RPS[direct/$c]:-}" ]; then
      vd=$(ratio "${RPS[$r/$c]}" "${RPS[direct/$c]}")
      ap=$(added "${P99[$r/$c]}" "${P99[direct/$c]}")
    fi
    [ "$r" != direct ] && [ "$r" != nginx ] && [ -n "${RPS[nginx/$c]:-}" ] && vn=$(ratio "${RPS[$r/$c]}" "${RPS[nginx/$c]}")
    printf '%-26s %5s %9s %8s %8s %9s %9s %9s %9s %6s\n' "$label" "$c" "${RPS[$r/$c]}" "${P50[$r/$c]}" "${P99[$r/$c]}" "$vn" "$vd" "$ap" "${CPU[$r/$c]:--}" "${ERR[$r/$c]}"
  done
done
echo
# Error replies are cheap: a row with any measures them, not forwarding.
for k in "${!ERR[@]}"; do
  [ "${ERR[$k]}" -gt 0 ] && echo "WARNING: ${k%/*} c=${k#*/} had ${ERR[$k]} errors (above, 'errors:' says which): its figures are not the router's"
done
has() { local k; for k in "$@"; do [ -n "${RPS[$k]:-}" ] || return 1; done; }
for c in $CONNS; do
  has host10k/$c host/$c key10k/$c key/$c &&
    echo "c=$c: 10k-entry table ÷ 1-entry: by Host $(ratio "${RPS[host10k/$c]}" "${RPS[host/$c]}"), by key $(ratio "${RPS[key10k/$c]}" "${RPS[key/$c]}")"
  has cross/$c host/$c &&
    echo "c=$c: cross-node (C → A) ÷ on the namespace's own node (A), by Host, both nodes on the same cores: $(ratio "${RPS[cross/$c]}" "${RPS[host/$c]}") req/s, CPU µs/req $(ratio "${CPU[cross/$c]}" "${CPU[host/$c]}")"
  for r in cross crosspin; do
    has $r/$c && [ -n "${CPUC[$r/$c]:-}" ] || continue
    a=$(awk -v t="${CPU[$r/$c]}" -v c="${CPUC[$r/$c]}" 'BEGIN { printf "%.1f", t - c }')
    echo "c=$c: $r: CPU µs/req node C (forwards) ${CPUC[$r/$c]}, node A (serves) $a"
    [ -n "${SYSC[$r/$c]:-}" ] && echo "c=$c: $r: read+write system calls per request: node C $(awk -v c="${SYSC[$r/$c]}" 'BEGIN { printf "%.1f", c }'), node A $(awk -v t="${SYS[$r/$c]}" -v c="${SYSC[$r/$c]}" 'BEGIN { printf "%.1f", t - c }'); own node (host row) ${SYS[host/$c]:--}"
  done
  has crosspin/$c hostpin/$c &&
    echo "c=$c: cross-node, a core per node ÷ own node on one core (two one-core hosts vs one): $(ratio "${RPS[crosspin/$c]}" "${RPS[hostpin/$c]}") req/s (wrk and the gateway still share both cores)"
  if has cross/$c host/$c && [ -n "${CPUC[cross/$c]:-}" ]; then
    # On hosts of their own, each node's router is the bottleneck of its
    # own CPU: the busier of the two bounds the hop's requests per second.
    a=$(awk -v t="${CPU[cross/$c]}" -v c="${CPUC[cross/$c]}" 'BEGIN { printf "%.1f", t - c }')
    echo "c=$c: separate hosts, from CPU per request: own node ÷ busier node of the hop = ${CPU[host/$c]} ÷ max(${CPUC[cross/$c]}, $a) = $(awk -v h="${CPU[host/$c]}" -v c="${CPUC[cross/$c]}" -v a="$a" 'BEGIN { m = c > a ? c : a; printf "%.2f", h / m }')× (the 0.8× target is judged on this one)"
  fi
  has quota/$c host10k/$c &&
    echo "c=$c: with api.requestsPerHour ÷ without (same daemon, same gateway): $(ratio "${RPS[quota/$c]}" "${RPS[host10k/$c]}") req/s, CPU µs/req $(ratio "${CPU[quota/$c]}" "${CPU[host10k/$c]}")"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - START))s in all"
