# shellcheck shell=bash
# Common part of scripts/infra: settings, configuration file, processes, waiting. Sourced first, not executed.
# Requires $ROOT (repo root). One file per server beside it (ceph.sh, rabbitmq.sh, postgres.sh, prometheus.sh,
# cluster.sh, tls.sh, parties.sh) and commands.sh, the subcommands.

STOP_TIMEOUT="${CLAIMCHECK_STOP_TIMEOUT:-60}"
PG_BIN="${CLAIMCHECK_PG_BIN:-/usr/lib/postgresql/15/bin}"
RMQ_BIN="/usr/lib/rabbitmq/bin"
RGW_NAME="client.rgw.claimcheck"
S3_UID="claimcheck"
RMQ_NODE="claimcheck@localhost"

log()  { printf 'infra: %s\n' "$*"; }
warn() { printf 'infra: warning: %s\n' "$*" >&2; }
die()  { printf 'infra: error: %s\n' "$*" >&2; exit 1; }
now()  { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# ---------------------------------------------------------------- configuration

# Setting name -> (env override, default). Saved values in $CONFIG win over defaults; env wins over both.
CFG_KEYS=(S3_PORT MON_PORT MEMSTORE_BYTES S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET S3_REGION
          AMQP_PORT MGMT_PORT PROM_PORT EPMD_PORT DIST_PORT AMQP_USER AMQP_PASSWORD
          PG_PORT PG_DB FSID ERLANG_COOKIE
          CLUSTER_PORT CLUSTER_AMQP_PORT CLUSTER_MGMT_PORT CLUSTER_PROM_PORT CLUSTER_DIST_PORT CLUSTER_EPMD_PORT)
declare -A CFG_ENV=(
  [S3_PORT]=CLAIMCHECK_S3_PORT [MON_PORT]=CLAIMCHECK_CEPH_MON_PORT
  [MEMSTORE_BYTES]=CLAIMCHECK_CEPH_MEMSTORE_BYTES
  [S3_ACCESS_KEY]=CLAIMCHECK_S3_ACCESS_KEY [S3_SECRET_KEY]=CLAIMCHECK_S3_SECRET_KEY
  [S3_BUCKET]=CLAIMCHECK_S3_BUCKET [S3_REGION]=CLAIMCHECK_S3_REGION
  [AMQP_PORT]=CLAIMCHECK_AMQP_PORT [MGMT_PORT]=CLAIMCHECK_MGMT_PORT [PROM_PORT]=CLAIMCHECK_RMQ_PROM_PORT
  [EPMD_PORT]=CLAIMCHECK_EPMD_PORT [DIST_PORT]=CLAIMCHECK_RMQ_DIST_PORT
  [AMQP_USER]=CLAIMCHECK_AMQP_USER [AMQP_PASSWORD]=CLAIMCHECK_AMQP_PASSWORD
  [PG_PORT]=CLAIMCHECK_PG_PORT [PG_DB]=CLAIMCHECK_PG_DB
  [FSID]=CLAIMCHECK_CEPH_FSID [ERLANG_COOKIE]=CLAIMCHECK_ERLANG_COOKIE
  [CLUSTER_PORT]=CLAIMCHECK_CLUSTER_PORT [CLUSTER_AMQP_PORT]=CLAIMCHECK_CLUSTER_AMQP_PORT
  [CLUSTER_MGMT_PORT]=CLAIMCHECK_CLUSTER_MGMT_PORT [CLUSTER_PROM_PORT]=CLAIMCHECK_CLUSTER_PROM_PORT
  [CLUSTER_DIST_PORT]=CLAIMCHECK_CLUSTER_DIST_PORT [CLUSTER_EPMD_PORT]=CLAIMCHECK_CLUSTER_EPMD_PORT
)
# Prometheus (PROM=1): its port and the coordinator's --http-addr it scrapes.
CFG_KEYS+=(PROMETHEUS_PORT COORD_METRICS_ADDR)
CFG_ENV+=([PROMETHEUS_PORT]=CLAIMCHECK_PROM_PORT [COORD_METRICS_ADDR]=CLAIMCHECK_COORDINATOR_METRICS_ADDR)
# TLS (TLS=1, scripts/infra.d/tls.sh): on/off (kept once set), the amqps and https ports, the password of the
# PostgreSQL role that may log in over TLS only.
CFG_KEYS+=(TLS AMQPS_PORT S3_TLS_PORT PG_TLS_PASSWORD)
CFG_ENV+=([TLS]=TLS [AMQPS_PORT]=CLAIMCHECK_AMQPS_PORT [S3_TLS_PORT]=CLAIMCHECK_S3_TLS_PORT
          [PG_TLS_PASSWORD]=CLAIMCHECK_PG_TLS_PASSWORD)

rand_hex() { openssl rand -hex "$1"; }

load_config() {
  LOCAL="${CLAIMCHECK_LOCAL_DIR:-$ROOT/.local}"
  case "$LOCAL" in /*) ;; *) LOCAL="$PWD/$LOCAL" ;; esac
  CONFIG="$LOCAL/config"
  ENV_FILE="$LOCAL/env"
  CEPH_DIR="$LOCAL/ceph"; CEPH_CONF="$CEPH_DIR/ceph.conf"
  RMQ_DIR="$LOCAL/rabbitmq"
  PG_DIR="$LOCAL/postgres"
  CL_DIR="$LOCAL/cluster"
  # When user postgres cannot reach $LOCAL (e.g. a checkout under /root), the data lives in
  # /var/tmp and $LOCAL/postgres is a symlink to it (see start_pg).
  if [ -L "$PG_DIR" ]; then PG_DIR="$(readlink -f "$PG_DIR")"; fi
  PROM_DIR="$LOCAL/prometheus"
  UP_TIMEOUT="${CLAIMCHECK_UP_TIMEOUT:-180}"

  declare -gA CFG=(
    [S3_PORT]=7480 [MON_PORT]=3300 [MEMSTORE_BYTES]=4294967296
    [S3_BUCKET]=1c-exchange [S3_REGION]=us-east-1
    [AMQP_PORT]=5672 [MGMT_PORT]=15672 [PROM_PORT]=15692 [EPMD_PORT]=4370 [DIST_PORT]=25672
    [AMQP_USER]=claimcheck [PG_PORT]=5433 [PG_DB]=claimcheck
    [CLUSTER_PORT]=5680 [CLUSTER_AMQP_PORT]=5681 [CLUSTER_MGMT_PORT]=15681 [CLUSTER_PROM_PORT]=15781
    [CLUSTER_DIST_PORT]=25681 [CLUSTER_EPMD_PORT]=4380
  )
  CFG[PROMETHEUS_PORT]=9090; CFG[COORD_METRICS_ADDR]=127.0.0.1:9464
  CFG[TLS]=0; CFG[AMQPS_PORT]=5671; CFG[S3_TLS_PORT]=7443
  declare -gA SAVED=()
  if [ -f "$CONFIG" ]; then
    local k v
    while IFS='=' read -r k v; do
      [[ "$k" =~ ^[A-Z0-9_]+$ ]] || continue
      [ -n "${CFG_ENV[$k]+x}" ] || continue
      SAVED[$k]="$v"; CFG[$k]="$v"
    done < "$CONFIG"
  fi
  local key envname
  for key in "${CFG_KEYS[@]}"; do
    envname="${CFG_ENV[$key]}"
    if [ -n "${!envname:-}" ]; then CFG[$key]="${!envname}"; fi
  done
  # Values generated once and then kept in $CONFIG.
  [ -n "${CFG[S3_ACCESS_KEY]:-}" ] || CFG[S3_ACCESS_KEY]="CC$(rand_hex 9 | tr a-f A-F)"
  [ -n "${CFG[S3_SECRET_KEY]:-}" ] || CFG[S3_SECRET_KEY]="$(rand_hex 20)"
  [ -n "${CFG[AMQP_PASSWORD]:-}" ] || CFG[AMQP_PASSWORD]="$(rand_hex 12)"
  [ -n "${CFG[ERLANG_COOKIE]:-}" ] || CFG[ERLANG_COOKIE]="$(rand_hex 16 | tr a-f A-F)"
  [ -n "${CFG[FSID]:-}" ] || CFG[FSID]="$(cat /proc/sys/kernel/random/uuid)"
  [ -n "${CFG[PG_TLS_PASSWORD]:-}" ] || CFG[PG_TLS_PASSWORD]="$(rand_hex 16)"

  local p
  for p in S3_PORT MON_PORT AMQP_PORT MGMT_PORT PROM_PORT EPMD_PORT DIST_PORT PG_PORT MEMSTORE_BYTES AMQPS_PORT S3_TLS_PORT \
           CLUSTER_PORT CLUSTER_AMQP_PORT CLUSTER_MGMT_PORT CLUSTER_PROM_PORT CLUSTER_DIST_PORT CLUSTER_EPMD_PORT; do
    [[ "${CFG[$p]}" =~ ^[0-9]+$ ]] || die "${CFG_ENV[$p]} must be a number, got '${CFG[$p]}'"
  done
  [[ "${CFG[TLS]}" =~ ^[01]$ ]] || die "TLS must be 0 or 1, got '${CFG[TLS]}'"
  [[ "${CFG[AMQP_USER]}${CFG[AMQP_PASSWORD]}${CFG[S3_ACCESS_KEY]}${CFG[S3_SECRET_KEY]}${CFG[PG_TLS_PASSWORD]}" =~ ^[A-Za-z0-9._~-]+$ ]] ||
    die "credentials may only use [A-Za-z0-9._~-] (they go into URLs unescaped)"
  [[ "${CFG[S3_BUCKET]}" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || die "invalid S3 bucket name '${CFG[S3_BUCKET]}'"
  [[ "${CFG[PROMETHEUS_PORT]}" =~ ^[0-9]+$ ]] || die "CLAIMCHECK_PROM_PORT must be a number, got '${CFG[PROMETHEUS_PORT]}'"
  [[ "${CFG[COORD_METRICS_ADDR]}" =~ ^[A-Za-z0-9.-]+:[0-9]+$ ]] ||
    die "CLAIMCHECK_COORDINATOR_METRICS_ADDR must be HOST:PORT, got '${CFG[COORD_METRICS_ADDR]}'"
}

save_config() {
  mkdir -p "$LOCAL"
  local tmp="$CONFIG.tmp.$$" key
  ( umask 077; : > "$tmp"; for key in "${CFG_KEYS[@]}"; do printf '%s=%s\n' "$key" "${CFG[$key]}"; done > "$tmp" )
  mv -f "$tmp" "$CONFIG"
}

# ---------------------------------------------------------------- processes

# pid_of PIDFILE COMM: prints the pid if the pid file names a live process whose comm is COMM.
pid_of() {
  local f="$1" comm="$2" pid
  [ -s "$f" ] || return 1
  pid="$(head -n1 "$f" | tr -dc 0-9)"
  [ -n "$pid" ] || return 1
  [ -r "/proc/$pid/comm" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  # a zombie (exited, not yet reaped by its parent) is not running
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  echo "$pid"
}

# stop_pid NAME PID SIGNAL: signal, wait up to STOP_TIMEOUT, then SIGKILL. Returns 1 if SIGKILL was needed.
stop_pid() {
  local name="$1" pid="$2" sig="${3:-TERM}" i
  kill -"$sig" "$pid" 2>/dev/null || return 0
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    [ -d "/proc/$pid" ] || { log "stopped $name (pid $pid)"; return 0; }
    # a zombie child of ours counts as stopped
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && { log "stopped $name (pid $pid)"; return 0; }
    sleep 0.1
  done
  warn "$name (pid $pid) did not stop within ${STOP_TIMEOUT}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.2
  return 1
}

# port_owner PORT: prints "comm,pid=N" of a TCP listener on PORT (any address), empty if free.
port_listeners() { ss -Hltnp "sport = :$1" 2>/dev/null; }
# record_listener_pid NAME PORT PIDFILE: waits up to 5 s for the process listening on 127.0.0.1:PORT and writes
# its pid to PIDFILE (for daemons that fork away without writing one, like `epmd -daemon`); dies otherwise.
record_listener_pid() {
  local name=$1 port=$2 file=$3 i pid=""
  for ((i = 0; i < 50; i++)); do
    pid="$(port_listeners "$port" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)" || true
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || die "$name did not listen on 127.0.0.1:$port"
  echo "$pid" > "$file"
}
port_free() { [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# wait_for DESC TIMEOUT LOGFILE PIDCHECK PROBE...: polls PROBE until it succeeds. Fails early when
# PIDCHECK (a command) fails after it once succeeded, or never succeeds in 30 s: the daemon died.
wait_for() {
  local desc="$1" timeout="$2" logf="$3" pidcheck="$4"; shift 4
  local start seen=0; start=$(date +%s)
  while true; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    # A daemon (ceph-osd, radosgw) writes its pid file only after it forked and initialised, which on a loaded
    # machine can take seconds: "exited" means it was seen running and is gone, or never appeared in 30 s.
    if [ -n "$pidcheck" ]; then
      if $pidcheck >/dev/null 2>&1; then
        seen=1
      elif (( seen == 1 || $(date +%s) - start >= 30 )); then
        die "$desc: the process exited while starting; see $logf"
      fi
    fi
    if (( $(date +%s) - start >= timeout )); then
      die "$desc: not ready after ${timeout}s; see $logf"
    fi
    sleep 0.5
  done
}

