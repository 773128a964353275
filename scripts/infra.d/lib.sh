# shellcheck shell=bash
# Functions of scripts/infra. Sourced, not executed. Requires $ROOT (repo root).

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

# ---------------------------------------------------------------- ceph

ceph_cli() { timeout 30 ceph -c "$CEPH_CONF" --connect-timeout 10 "$@"; }

write_ceph_conf() {
  mkdir -p "$CEPH_DIR"/{mon,osd,rgw,run,log}
  cat > "$CEPH_CONF.tmp" <<EOF
# Generated by scripts/infra — one-host Ceph cluster for claimcheck tests (memstore OSD, no mgr).
[global]
fsid = ${CFG[FSID]}
mon host = v2:127.0.0.1:${CFG[MON_PORT]}/0
public addr = 127.0.0.1
# The OSD binds its cluster and back-heartbeat messengers to the cluster address (0.0.0.0 if unset).
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
ms mon client mode = crc secure
ms client mode = crc secure
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
run dir = $CEPH_DIR/run
pid file = $CEPH_DIR/run/\$name.pid
log file = $CEPH_DIR/log/\$name.log
log to stderr = false
err to stderr = false

[mon]
admin socket = $CEPH_DIR/run/\$name.asok
mon data = $CEPH_DIR/mon
mon data avail warn = 2
mon data avail crit = 1

[osd]
admin socket = $CEPH_DIR/run/\$name.asok
osd data = $CEPH_DIR/osd
osd objectstore = memstore
memstore device bytes = ${CFG[MEMSTORE_BYTES]}
osd crush update on start = false
# A full shutdown unmounts the memstore, which saves its objects to osd data (see 'down').
osd fast shutdown = false

[$RGW_NAME]
admin socket = $CEPH_DIR/run/\$name.asok
rgw frontends = $(rgw_frontends)
rgw data = $CEPH_DIR/rgw
rgw dns name = localhost
# Deleted objects' tails are garbage-collected; memstore holds them in RAM, so collect soon.
rgw gc obj min wait = 30
rgw gc processor period = 30
EOF
  mv -f "$CEPH_CONF.tmp" "$CEPH_CONF"
}

mon_pid() { pid_of "$CEPH_DIR/run/mon.a.pid" ceph-mon; }
osd_id()  { cat "$CEPH_DIR/osd/whoami" 2>/dev/null; }
osd_pid() { local id; id="$(osd_id)" || return 1; pid_of "$CEPH_DIR/run/osd.$id.pid" ceph-osd; }
rgw_pid() { pid_of "$CEPH_DIR/run/$RGW_NAME.pid" radosgw; }

mon_ready() { ceph_cli mon stat; }
osd_up() {
  local n
  n="$(ceph_cli osd stat -f json | jq -r '.num_up_osds // .osdmap.num_up_osds // 0')" || return 1
  [ "${n:-0}" -ge 1 ]
}

# s3_req METHOD PATH: signed request with the configured keys; prints the HTTP status.
# The credentials go to curl on stdin (-K -), never on the command line.
s3_req() {
  local method="$1" path="$2"
  local how=(-X "$method")
  # -X HEAD would make curl wait for a body that never comes
  [ "$method" = HEAD ] && how=(--head)
  printf 'user = "%s:%s"\n' "${CFG[S3_ACCESS_KEY]}" "${CFG[S3_SECRET_KEY]}" |
    curl -sS -K - -o /dev/null -w '%{http_code}' --max-time 15 \
      --aws-sigv4 "aws:amz:${CFG[S3_REGION]}:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
      "${how[@]}" "http://127.0.0.1:${CFG[S3_PORT]}$path" 2>/dev/null || true
}
rgw_answers() { local c; c="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${CFG[S3_PORT]}/")"; [ "$c" = 200 ]; }
s3_ok() { [ "$(s3_req GET /)" = 200 ]; }

start_mon() {
  if [ ! -e "$CEPH_DIR/mon/store.db" ]; then
    log "ceph: creating monitor (fsid ${CFG[FSID]})"
    rm -rf "$CEPH_DIR/mon"; mkdir -p "$CEPH_DIR/mon"
    monmaptool --create --clobber --addv a "[v2:127.0.0.1:${CFG[MON_PORT]}]" --fsid "${CFG[FSID]}" \
      "$CEPH_DIR/monmap" >"$CEPH_DIR/log/mkfs.log" 2>&1 || die "monmaptool failed; see $CEPH_DIR/log/mkfs.log"
    ceph-mon -c "$CEPH_CONF" -i a --mkfs --monmap "$CEPH_DIR/monmap" >>"$CEPH_DIR/log/mkfs.log" 2>&1 ||
      die "ceph-mon --mkfs failed; see $CEPH_DIR/log/mkfs.log"
  fi
  ceph-mon -c "$CEPH_CONF" -i a >>"$CEPH_DIR/log/mon.a.log" 2>&1 || die "ceph-mon failed to start; see $CEPH_DIR/log/mon.a.log"
  wait_for "ceph-mon (127.0.0.1:${CFG[MON_PORT]})" "$UP_TIMEOUT" "$CEPH_DIR/log/mon.a.log" mon_pid mon_ready
}

create_osd() {
  local uuid id
  uuid="$(cat /proc/sys/kernel/random/uuid)"
  id="$(ceph_cli osd new "$uuid")" || die "ceph osd new failed"
  rm -rf "$CEPH_DIR/osd"; mkdir -p "$CEPH_DIR/osd"
  ceph-osd -c "$CEPH_CONF" -i "$id" --mkfs --osd-uuid "$uuid" >>"$CEPH_DIR/log/mkfs.log" 2>&1 ||
    die "ceph-osd --mkfs failed; see $CEPH_DIR/log/mkfs.log"
  ceph_cli osd crush add "osd.$id" 1.0 host=localhost root=default >/dev/null 2>&1 ||
    die "ceph osd crush add failed"
}

start_osd() {
  if [ -z "$(osd_id)" ]; then
    log "ceph: creating memstore OSD (${CFG[MEMSTORE_BYTES]} bytes)"
    create_osd
  fi
  local id; id="$(osd_id)"
  ceph-osd -c "$CEPH_CONF" -i "$id" >>"$CEPH_DIR/log/osd.$id.log" 2>&1 ||
    die "ceph-osd failed to start; see $CEPH_DIR/log/osd.$id.log"
  wait_for "ceph-osd.$id" "$UP_TIMEOUT" "$CEPH_DIR/log/osd.$id.log" osd_pid osd_up
}

start_rgw() {
  radosgw -c "$CEPH_CONF" -n "$RGW_NAME" >>"$CEPH_DIR/log/$RGW_NAME.log" 2>&1 ||
    die "radosgw failed to start; see $CEPH_DIR/log/$RGW_NAME.log"
  wait_for "radosgw (127.0.0.1:${CFG[S3_PORT]})" "$UP_TIMEOUT" "$CEPH_DIR/log/$RGW_NAME.log" rgw_pid rgw_answers
}

ensure_s3_user_and_bucket() {
  local rgwa=(timeout 60 radosgw-admin -c "$CEPH_CONF" -n "$RGW_NAME")
  local info
  if info="$("${rgwa[@]}" user info --uid="$S3_UID" 2>/dev/null)"; then
    if ! jq -e --arg ak "${CFG[S3_ACCESS_KEY]}" '.keys[] | select(.access_key == $ak)' <<<"$info" >/dev/null; then
      "${rgwa[@]}" key create --uid="$S3_UID" --key-type=s3 --access-key="${CFG[S3_ACCESS_KEY]}" \
        --secret-key="${CFG[S3_SECRET_KEY]}" >/dev/null 2>&1 || die "radosgw-admin key create failed"
    fi
  else
    log "s3: creating user $S3_UID"
    "${rgwa[@]}" user create --uid="$S3_UID" --display-name="claimcheck tests" \
      --access-key="${CFG[S3_ACCESS_KEY]}" --secret-key="${CFG[S3_SECRET_KEY]}" >/dev/null 2>"$CEPH_DIR/log/radosgw-admin.log" ||
      die "radosgw-admin user create failed; see $CEPH_DIR/log/radosgw-admin.log"
  fi
  wait_for "S3 GET / with the user's keys" 60 "$CEPH_DIR/log/$RGW_NAME.log" rgw_pid s3_ok
  local code; code="$(s3_req HEAD "/${CFG[S3_BUCKET]}")"
  if [ "$code" = 404 ]; then
    log "s3: creating bucket ${CFG[S3_BUCKET]}"
    code="$(s3_req PUT "/${CFG[S3_BUCKET]}")"
    [ "$code" = 200 ] || die "creating bucket ${CFG[S3_BUCKET]} failed: HTTP $code; see $CEPH_DIR/log/$RGW_NAME.log"
  elif [ "$code" != 200 ]; then
    die "HEAD bucket ${CFG[S3_BUCKET]} answered HTTP $code; see $CEPH_DIR/log/$RGW_NAME.log"
  fi
}

# ---------------------------------------------------------------- rabbitmq

rmq_env() {
  export HOME="$RMQ_DIR/home"
  export ERL_EPMD_PORT="${CFG[EPMD_PORT]}" ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_NODENAME="$RMQ_NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="${CFG[AMQP_PORT]}" RABBITMQ_DIST_PORT="${CFG[DIST_PORT]}"
  export RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia" RABBITMQ_LOG_BASE="$RMQ_DIR/log"
  export RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf" RABBITMQ_PID_FILE="$RMQ_DIR/rabbitmq.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}
rmqctl() { ( rmq_env; timeout 150 "$RMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@" ); }
rmq_pid()  { pid_of "$RMQ_DIR/rabbitmq.pid" beam.smp; }
epmd_pid() { pid_of "$RMQ_DIR/epmd.pid" epmd; }
rmq_log() { echo "$RMQ_DIR/log/$RMQ_NODE.log"; }
mgmt_get() { # mgmt_get PATH: prints HTTP status
  printf 'user = "%s:%s"\n' "${CFG[AMQP_USER]}" "${CFG[AMQP_PASSWORD]}" |
    curl -s -K - -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:${CFG[MGMT_PORT]}$1" 2>/dev/null || true
}
rmq_user_ok() { [ "$(mgmt_get /api/whoami)" = 200 ]; }
mgmt_up() { local c; c="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${CFG[MGMT_PORT]}/")"; [ "$c" = 200 ]; }

write_rmq_files() {
  mkdir -p "$RMQ_DIR"/{home,mnesia,log}
  if [ ! -f "$RMQ_DIR/home/.erlang.cookie" ]; then
    ( umask 077; printf '%s' "${CFG[ERLANG_COOKIE]}" > "$RMQ_DIR/home/.erlang.cookie" )
  fi
  chmod 400 "$RMQ_DIR/home/.erlang.cookie"
  echo '[rabbitmq_management,rabbitmq_prometheus].' > "$RMQ_DIR/enabled_plugins"
  : > "$RMQ_DIR/rabbitmq-env.conf"
  echo '[].' > "$RMQ_DIR/advanced.config"
  ( umask 077; cat > "$RMQ_DIR/rabbitmq.conf" <<EOF
# Generated by scripts/infra
listeners.tcp.local = 127.0.0.1:${CFG[AMQP_PORT]}
management.tcp.ip = 127.0.0.1
management.tcp.port = ${CFG[MGMT_PORT]}
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = ${CFG[PROM_PORT]}
default_vhost = /
default_user = ${CFG[AMQP_USER]}
default_pass = ${CFG[AMQP_PASSWORD]}
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
loopback_users = none
log.file.level = info
log.console = false
EOF
    if tls_wanted; then rmq_tls_conf; fi >> "$RMQ_DIR/rabbitmq.conf"
  )
}

start_epmd() {
  ( rmq_env; epmd -daemon -port "${CFG[EPMD_PORT]}" -address 127.0.0.1 ) || die "epmd failed to start"
  record_epmd_pid
}

record_epmd_pid() {
  local i pid=""
  for ((i = 0; i < 50; i++)); do
    pid="$(port_listeners "${CFG[EPMD_PORT]}" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)" || true
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || die "epmd did not listen on 127.0.0.1:${CFG[EPMD_PORT]}"
  echo "$pid" > "$RMQ_DIR/epmd.pid"
}

start_rabbitmq() {
  write_rmq_files
  epmd_pid >/dev/null || start_epmd
  rm -f "$RMQ_DIR/rabbitmq.pid"
  ( rmq_env; "$RMQ_BIN/rabbitmq-server" -detached >>"$RMQ_DIR/log/startup.log" 2>&1 ) ||
    die "rabbitmq-server -detached failed; see $RMQ_DIR/log/startup.log"
  local t0; t0=$(date +%s)
  # The pid file appears once the node has registered.
  while [ ! -s "$RMQ_DIR/rabbitmq.pid" ]; do
    (( $(date +%s) - t0 < 60 )) || die "rabbitmq: no pid file after 60s; see $(rmq_log) and $RMQ_DIR/log/startup.log"
    sleep 0.3
  done
  rmqctl wait --timeout "$UP_TIMEOUT" "$RMQ_DIR/rabbitmq.pid" >>"$RMQ_DIR/log/startup.log" 2>&1 ||
    die "rabbitmq did not start within ${UP_TIMEOUT}s; see $(rmq_log)"
  wait_for "rabbitmq management (127.0.0.1:${CFG[MGMT_PORT]})" 60 "$(rmq_log)" rmq_pid mgmt_up
  # Should the node have started an epmd of its own, track that one.
  epmd_pid >/dev/null || record_epmd_pid
}

ensure_rmq_user() {
  rmq_user_ok && return 0
  log "rabbitmq: setting up user ${CFG[AMQP_USER]}"
  local u="${CFG[AMQP_USER]}"
  {
    # rabbitmqctl reads the password from stdin when it is not an argument (not on any command line)
    rmqctl add_user "$u" <<<"${CFG[AMQP_PASSWORD]}" || rmqctl change_password "$u" <<<"${CFG[AMQP_PASSWORD]}"
    rmqctl set_user_tags "$u" administrator
    rmqctl set_permissions -p / "$u" '.*' '.*' '.*'
  } >>"$RMQ_DIR/log/startup.log" 2>&1 || die "rabbitmq user setup failed; see $RMQ_DIR/log/startup.log"
  rmq_user_ok || die "rabbitmq: user ${CFG[AMQP_USER]} cannot log in to management; see $(rmq_log)"
}

# ---------------------------------------------------------------- postgresql

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_pid() { pid_of "$PG_DIR/data/postmaster.pid" postgres; }
pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "${CFG[PG_PORT]}" -U postgres -d postgres -t 3; }
pg_dsn() { echo "postgresql://postgres@127.0.0.1:${CFG[PG_PORT]}/${CFG[PG_DB]}"; }

start_pg() {
  chmod 755 "$LOCAL"
  if [ "$(id -u)" -eq 0 ] && [ ! -e "$LOCAL/postgres" ] && ! runuser -u postgres -- test -x "$LOCAL"; then
    PG_DIR="/var/tmp/claimcheck-pg-$(printf '%s' "$LOCAL" | md5sum | cut -c1-12)"
    log "postgres: user postgres cannot enter $LOCAL; data goes to $PG_DIR (symlinked from $LOCAL/postgres)"
    rm -rf "$PG_DIR"; mkdir -p "$PG_DIR"
    ln -s "$PG_DIR" "$LOCAL/postgres"
  fi
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$PG_DIR"; fi
  chmod 700 "$PG_DIR"
  if [ ! -s "$PG_DIR/data/PG_VERSION" ]; then
    log "postgres: initdb"
    as_pg mkdir -p "$PG_DIR/log" "$PG_DIR/sock"
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 ||
      die "initdb failed; see $PG_DIR/initdb.log"
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log/postgres.log" -w -t "$UP_TIMEOUT" \
    -o "-p ${CFG[PG_PORT]} -k $PG_DIR/sock -c listen_addresses=127.0.0.1" start >/dev/null 2>&1 ||
    die "postgres did not start; see $PG_DIR/log/postgres.log"
  wait_for "postgres (127.0.0.1:${CFG[PG_PORT]})" "$UP_TIMEOUT" "$PG_DIR/log/postgres.log" pg_pid pg_ready
  local exists
  exists="$(as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "${CFG[PG_PORT]}" -U postgres -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = '${CFG[PG_DB]}'")" || die "psql failed; see $PG_DIR/log/postgres.log"
  if [ "$exists" != 1 ]; then
    as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "${CFG[PG_PORT]}" -U postgres -d postgres -qc \
      "CREATE DATABASE \"${CFG[PG_DB]}\"" >/dev/null || die "CREATE DATABASE ${CFG[PG_DB]} failed"
    log "postgres: created database ${CFG[PG_DB]}"
  fi
}

# ---------------------------------------------------------------- prometheus (PROM=1)

# Prometheus 2.42 (Debian package) scraping the coordinator (--http-addr) and RabbitMQ's prometheus
# plugin (per-object endpoint: one series per queue). Config rendered from deploy/prometheus/prometheus.local.yml.in.
prometheus_pid() { pid_of "$PROM_DIR/prometheus.pid" prometheus; }
prometheus_url() { echo "http://127.0.0.1:${CFG[PROMETHEUS_PORT]}"; }
prometheus_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(prometheus_url)/-/ready")" = 200 ]; }

write_prometheus_conf() {
  local tpl="$ROOT/deploy/prometheus/prometheus.local.yml.in" conf="$PROM_DIR/prometheus.yml"
  [ -f "$tpl" ] || die "prometheus: template $tpl is missing"
  mkdir -p "$PROM_DIR/data" "$PROM_DIR/log"
  sed -e "s|@SCRAPE_INTERVAL@|${CLAIMCHECK_PROM_SCRAPE_INTERVAL:-5s}|g" \
      -e "s|@COORDINATOR_TARGET@|${CFG[COORD_METRICS_ADDR]}|g" \
      -e "s|@RABBITMQ_TARGET@|127.0.0.1:${CFG[PROM_PORT]}|g" "$tpl" > "$conf.tmp"
  promtool check config "$conf.tmp" >>"$PROM_DIR/log/prometheus.log" 2>&1 ||
    die "prometheus: generated config is invalid; see $PROM_DIR/log/prometheus.log"
  mv -f "$conf.tmp" "$conf"
}

start_prometheus() {
  write_prometheus_conf
  rm -f "$PROM_DIR/prometheus.pid"
  # setsid: its own session, so a Ctrl+C in the terminal that ran 'up' does not reach it.
  setsid prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
    --web.listen-address="127.0.0.1:${CFG[PROMETHEUS_PORT]}" \
    </dev/null >>"$PROM_DIR/log/prometheus.log" 2>&1 &
  echo $! > "$PROM_DIR/prometheus.pid"
  wait_for "prometheus (127.0.0.1:${CFG[PROMETHEUS_PORT]})" "$UP_TIMEOUT" "$PROM_DIR/log/prometheus.log" \
    prometheus_pid prometheus_ready
}

# ---------------------------------------------------------------- env file

write_env() {
  local with_pg="$1" ep="http://127.0.0.1:${CFG[S3_PORT]}" tmp="$ENV_FILE.tmp.$$"
  (
    umask 077
    {
      echo "# Written by scripts/infra up — settings of the local servers. Source it: set -a; . .local/env; set +a"
      echo "AMQP_URL=amqp://${CFG[AMQP_USER]}:${CFG[AMQP_PASSWORD]}@127.0.0.1:${CFG[AMQP_PORT]}/%2F"
      echo "S3_ENDPOINT=$ep"
      echo "S3_REGION=${CFG[S3_REGION]}"
      echo "S3_ACCESS_KEY=${CFG[S3_ACCESS_KEY]}"
      echo "S3_SECRET_KEY=${CFG[S3_SECRET_KEY]}"
      echo "S3_BUCKET=${CFG[S3_BUCKET]}"
      echo "MINIO_ENDPOINT=$ep"
      echo "MINIO_REGION=${CFG[S3_REGION]}"
      echo "MINIO_ACCESS_KEY=${CFG[S3_ACCESS_KEY]}"
      echo "MINIO_SECRET_KEY=${CFG[S3_SECRET_KEY]}"
      echo "MINIO_BUCKET=${CFG[S3_BUCKET]}"
      # The administrator's consumers (tests, tools) accept the pointers the administrator publishes.
      echo "CLAIMCHECK_ALLOWED_PRODUCERS=${CFG[AMQP_USER]}"
      echo "RABBITMQ_MGMT_URL=http://127.0.0.1:${CFG[MGMT_PORT]}"
      echo "RABBITMQ_PROMETHEUS_URL=http://127.0.0.1:${CFG[PROM_PORT]}/metrics"
      if [ "$with_pg" = 1 ]; then echo "CLAIMCHECK_PG_DSN=$(pg_dsn)"; fi
      if tls_wanted; then tls_env_lines "$with_pg"; fi
      if prometheus_pid >/dev/null; then echo "PROMETHEUS_URL=$(prometheus_url)"; fi
      if [ "${WANT_CLUSTER:-0}" = 1 ] || haproxy_pid >/dev/null; then
        echo "AMQP_CLUSTER_URL=$(cl_url "${CFG[CLUSTER_PORT]}")"
        local n urls=() mgmt=()
        for n in "${CL_NODES[@]}"; do
          urls+=("$(cl_url "$(cl_port CLUSTER_AMQP_PORT "$n")")")
          mgmt+=("http://127.0.0.1:$(cl_port CLUSTER_MGMT_PORT "$n")")
        done
        echo "AMQP_CLUSTER_URLS=$(IFS=,; echo "${urls[*]}")"
        echo "RABBITMQ_CLUSTER_MGMT_URLS=$(IFS=,; echo "${mgmt[*]}")"
      fi
    } > "$tmp"
  )
  chmod 600 "$tmp"
  mv -f "$tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local t0; t0="$(now)"
  local a
  for a in "$@"; do  # `up PG=1 CLUSTER=1` = the same variables in the environment
    case "$a" in PG=*|CLUSTER=*|PROM=*|TLS=*) export "${a?}" ;; *) die "up: unknown argument '$a' (accepted: PG=1 PROM=1 CLUSTER=1 TLS=1)" ;; esac
  done
  # TLS: TLS=1 turns the TLS listeners on (kept in $CONFIG for later 'up's), TLS=0 off.
  if [ -n "${TLS:-}" ]; then
    [[ "$TLS" =~ ^[01]$ ]] || die "up: TLS must be 0 or 1, got '$TLS'"
    CFG[TLS]="$TLS"
  fi
  # The RabbitMQ cluster (3 nodes + HAProxy) starts with CLUSTER=1 only; its URLs stay in .local/env while it runs.
  WANT_CLUSTER=0; [ "${CLUSTER:-}" = 1 ] && WANT_CLUSTER=1
  local need_cluster=0 need_cl_epmd=0 need_haproxy=0 cl_nodes_missing=()
  if [ "$WANT_CLUSTER" = 1 ]; then
    mapfile -t cl_nodes_missing < <(cl_missing)
    cl_epmd_pid >/dev/null || need_cl_epmd=1
    haproxy_pid >/dev/null || need_haproxy=1
    (( ${#cl_nodes_missing[@]} + need_cl_epmd + need_haproxy > 0 )) && need_cluster=1
  fi
  # PostgreSQL: PG=1 starts it; once initialised it is restarted by every 'up' unless PG=0.
  local want_pg=0
  if [ "${PG:-}" = 1 ]; then want_pg=1
  elif [ -z "${PG:-}" ] && [ -s "$PG_DIR/data/PG_VERSION" ]; then want_pg=1; fi
  # It stays in .local/env while it runs.
  if pg_pid >/dev/null; then want_pg=1; fi

  if [ -e "$CEPH_DIR/mon/store.db" ] && [ -n "${SAVED[MON_PORT]:-}" ] && [ "${SAVED[MON_PORT]}" != "${CFG[MON_PORT]}" ]; then
    die "the Ceph cluster was created with mon port ${SAVED[MON_PORT]}; run 'scripts/infra clean' to change it"
  fi

  local need_mon=0 need_osd=0 need_rgw=0 need_rmq=0 need_epmd=0 need_pg=0
  mon_pid >/dev/null || need_mon=1
  osd_pid >/dev/null || need_osd=1
  rgw_pid >/dev/null || need_rgw=1
  rmq_pid >/dev/null || need_rmq=1
  epmd_pid >/dev/null || need_epmd=1
  if [ "$want_pg" = 1 ]; then pg_pid >/dev/null || need_pg=1; fi
  # Prometheus: only PROM=1 starts it; without PROM=1 a running one is left alone.
  local need_prom=0
  if [ "${PROM:-}" = 1 ]; then prometheus_pid >/dev/null || need_prom=1; fi

  # TLS on servers that run without their TLS listener: RabbitMQ and radosgw are restarted (tls.sh).
  local tls_rmq=0 tls_rgw=0
  if tls_wanted; then
    [ $need_rmq = 0 ] && ! rmq_tls_ok && tls_rmq=1
    [ $need_rgw = 0 ] && ! rgw_tls_ok && tls_rgw=1
  fi

  # Every port we are about to bind must be free (before anything starts).
  local checks=() c port svc bad=()
  if tls_wanted; then
    (( need_rmq + tls_rmq > 0 )) && checks+=("${CFG[AMQPS_PORT]}:rabbitmq amqps (CLAIMCHECK_AMQPS_PORT)")
    (( need_rgw + tls_rgw > 0 )) && checks+=("${CFG[S3_TLS_PORT]}:radosgw https (CLAIMCHECK_S3_TLS_PORT)")
  fi
  [ $need_mon = 1 ] && checks+=("${CFG[MON_PORT]}:ceph-mon (CLAIMCHECK_CEPH_MON_PORT)")
  [ $need_rgw = 1 ] && checks+=("${CFG[S3_PORT]}:radosgw S3 (CLAIMCHECK_S3_PORT)")
  [ $need_epmd = 1 ] && checks+=("${CFG[EPMD_PORT]}:rabbitmq epmd (CLAIMCHECK_EPMD_PORT)")
  if [ $need_rmq = 1 ]; then
    checks+=("${CFG[AMQP_PORT]}:rabbitmq AMQP (CLAIMCHECK_AMQP_PORT)"
             "${CFG[MGMT_PORT]}:rabbitmq management (CLAIMCHECK_MGMT_PORT)"
             "${CFG[PROM_PORT]}:rabbitmq prometheus (CLAIMCHECK_RMQ_PROM_PORT)"
             "${CFG[DIST_PORT]}:rabbitmq distribution (CLAIMCHECK_RMQ_DIST_PORT)")
  fi
  [ $need_pg = 1 ] && checks+=("${CFG[PG_PORT]}:postgres (CLAIMCHECK_PG_PORT)")
  [ $need_cluster = 1 ] && cl_port_checks "$need_cl_epmd" "$need_haproxy" "${cl_nodes_missing[@]}"
  [ $need_prom = 1 ] && checks+=("${CFG[PROMETHEUS_PORT]}:prometheus (CLAIMCHECK_PROM_PORT)")
  for c in "${checks[@]}"; do
    port="${c%%:*}"; svc="${c#*:}"
    if ! port_free "$port"; then
      local who; who="$(port_listeners "$port" | grep -o 'users:(([^)]*))' | head -n1)" || true
      bad+=("port $port needed by $svc is already in use${who:+ by $who}")
    fi
  done
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'infra: error: %s\n' "${bad[@]}" >&2
    die "nothing started; free the port(s) or choose others via the variables named above"
  fi

  mkdir -p "$LOCAL"; chmod 755 "$LOCAL"
  save_config
  if tls_wanted; then ensure_tls_certs; fi

  if (( need_mon + need_osd + need_rgw + need_rmq + need_epmd + need_pg + need_prom + need_cluster + tls_rmq + tls_rgw == 0 )); then
    if tls_wanted && [ "$want_pg" = 1 ]; then pg_enable_tls; fi
    ensure_parties
    write_env "$want_pg"
    log "everything is already up ($(elapsed "$t0") s); settings in $ENV_FILE"
    return 0
  fi

  # Ceph and RabbitMQ start in parallel (RabbitMQ in a background subshell).
  local rmq_job="" rmq_status=0
  if (( need_rmq + need_epmd > 0 )); then
    (
      if [ $need_rmq = 1 ]; then
        log "rabbitmq: starting node $RMQ_NODE"; local tr; tr="$(now)"
        start_rabbitmq
        log "rabbitmq: ready on 127.0.0.1:${CFG[AMQP_PORT]} ($(elapsed "$tr") s)"
      else
        write_rmq_files; start_epmd
      fi
      ensure_rmq_user
    ) &
    rmq_job=$!
  fi

  local cl_job="" cl_status=0
  if [ $need_cluster = 1 ]; then cl_up & cl_job=$!; fi

  local pg_job="" pg_status=0
  if [ $need_pg = 1 ]; then
    (
      local tp; tp="$(now)"; log "postgres: starting"
      start_pg
      log "postgres: ready on 127.0.0.1:${CFG[PG_PORT]} ($(elapsed "$tp") s)"
    ) &
    pg_job=$!
  fi

  if (( need_mon + need_osd + need_rgw > 0 )); then
    local tc; tc="$(now)"
    if [ -e "$CEPH_DIR/mon/store.db" ] && [ $need_osd = 1 ] && [ ! -e "$CEPH_DIR/osd.saved" ]; then
      # The memstore OSD was not stopped cleanly (crash, SIGKILL, reboot): its objects are gone and
      # the cluster's pools would hang. Start over with a fresh cluster; the user and bucket are re-created.
      warn "ceph: the memstore OSD did not save its data at its last stop: re-creating the Ceph cluster (S3 objects are lost)"
      stop_by radosgw rgw_pid
      stop_by ceph-mon mon_pid
      rm -rf "$CEPH_DIR/mon" "$CEPH_DIR/osd" "$CEPH_DIR/rgw" "$CEPH_DIR/run" "$CEPH_DIR/monmap"
      CFG[FSID]="$(cat /proc/sys/kernel/random/uuid)"; save_config
      need_mon=1; need_rgw=1
    fi
    rm -f "$CEPH_DIR/osd.saved"
    write_ceph_conf
    if [ $need_mon = 1 ]; then log "ceph: starting mon"; start_mon; fi
    if [ $need_osd = 1 ]; then log "ceph: starting osd"; start_osd; fi
    if [ $need_rgw = 1 ]; then log "ceph: starting radosgw"; start_rgw; fi
    ensure_s3_user_and_bucket
    log "s3: ready at http://127.0.0.1:${CFG[S3_PORT]} bucket ${CFG[S3_BUCKET]} ($(elapsed "$tc") s)"
  fi
  if [ -n "$pg_job" ]; then wait "$pg_job" || pg_status=$?; fi
  if [ -n "$rmq_job" ]; then wait "$rmq_job" || rmq_status=$?; fi
  [ "$pg_status" = 0 ] || die "postgres failed (see messages above)"
  # start_pg ran in a subshell: when it moved the data to /var/tmp (a symlink at $LOCAL/postgres), only the
  # subshell's PG_DIR knows. Resolve it here, so later steps (pg_enable_tls) write through the real path,
  # which user postgres can reach.
  if [ -L "$PG_DIR" ]; then PG_DIR="$(readlink -f "$PG_DIR")"; fi
  [ "$rmq_status" = 0 ] || die "rabbitmq failed (see messages above)"
  if [ -n "$cl_job" ]; then wait "$cl_job" || cl_status=$?; fi
  [ "$cl_status" = 0 ] || die "rabbitmq cluster failed (see messages above)"
  if [ $need_prom = 1 ]; then
    local tm; tm="$(now)"; log "prometheus: starting"
    start_prometheus
    log "prometheus: ready at $(prometheus_url), scraping ${CFG[COORD_METRICS_ADDR]} and 127.0.0.1:${CFG[PROM_PORT]} ($(elapsed "$tm") s)"
  fi
  if tls_wanted; then up_tls "$want_pg" "$tls_rmq" "$tls_rgw"; fi

  ensure_parties s3
  write_env "$want_pg"
  log "all up in $(elapsed "$t0") s; settings in $ENV_FILE"
}

stop_by() { # stop_by NAME PIDFUNC [SIGNAL]
  local pid
  if pid="$($2)"; then stop_pid "$1" "$pid" "${3:-TERM}" || true; fi
}

stray_pids() { # processes whose command line mentions our local dir (one grep over /proc)
  local f p
  for f in $(grep -laF -- "$LOCAL/" /proc/[0-9]*/cmdline 2>/dev/null); do
    p="${f#/proc/}"; p="${p%/cmdline}"
    [ "$p" = $$ ] || [ "$p" = "${BASHPID:-$$}" ] || echo "$p"
  done
}

cmd_down() {
  local t0; t0="$(now)"
  # Ceph (in order rgw, osd, mon), RabbitMQ and PostgreSQL stop in parallel.
  (
  stop_by radosgw rgw_pid
  local opid
  if opid="$(osd_pid)"; then
    # A clean OSD stop saves the memstore to disk; only then can the next 'up' reuse the cluster.
    touch "$CEPH_DIR/run/osd.stopping"
    if stop_pid ceph-osd "$opid" TERM && [ "$CEPH_DIR/osd/collections" -nt "$CEPH_DIR/run/osd.stopping" ]; then
      touch "$CEPH_DIR/osd.saved"
    else
      warn "ceph-osd did not save its memstore: the next 'up' re-creates the Ceph cluster"
    fi
  fi
  stop_by ceph-mon mon_pid
  ) & local j1=$!
  ( stop_by rabbitmq rmq_pid; stop_by epmd epmd_pid; stop_epmd_on_port "epmd (auto-started)" "${CFG[EPMD_PORT]}" ) & local j2=$!
  ( stop_by postgres pg_pid INT ) & local j3=$!
  ( stop_by prometheus prometheus_pid ) & local j4=$!
  ( cl_down ) & local j5=$!
  wait $j1 $j2 $j3 $j4 $j5 || true
  local s; s="$(stray_pids | tr '\n' ' ')"
  [ -z "$s" ] || warn "processes still mentioning $LOCAL: $s"
  log "down in $(elapsed "$t0") s (data kept in $LOCAL)"
}

cmd_clean() {
  local t0; t0="$(now)"
  cmd_down
  local s p
  s="$(stray_pids)"
  for p in $s; do warn "killing leftover pid $p ($({ tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | cut -c1-100))"; kill -KILL "$p" 2>/dev/null || true; done
  if [ -L "$LOCAL/postgres" ]; then rm -rf "$(readlink -f "$LOCAL/postgres")"; fi
  rm -rf "$LOCAL"
  log "clean in $(elapsed "$t0") s: removed $LOCAL"
}

# ---------------------------------------------------------------- rabbitmq alone (restart tests)

# stop-rabbit: graceful stop of the RabbitMQ node only (SIGTERM via its pid file; SIGKILL after
# STOP_TIMEOUT). epmd and the other servers keep running; the data dir (mnesia) is kept, so durable
# queues and persistent messages survive.
cmd_stop_rabbit() {
  local t0; t0="$(now)"
  local pid
  if pid="$(rmq_pid)"; then
    stop_by rabbitmq rmq_pid
    # stop_pid treats a failed kill (e.g. a node started by another user) as done: check.
    if rmq_pid >/dev/null; then die "rabbitmq (pid $pid) is still running: not allowed to signal it?"; fi
    log "rabbitmq: stopped in $(elapsed "$t0") s (data kept in $RMQ_DIR)"
  else
    log "rabbitmq: not running"
  fi
}

# start-rabbit: starts the RabbitMQ node again with the settings and data dir of the last 'up' and
# waits until it is ready (AMQP + management answer, user can log in).
cmd_start_rabbit() {
  local t0; t0="$(now)"
  if [ ! -d "$RMQ_DIR/mnesia" ] || [ ! -f "$CONFIG" ]; then
    die "no RabbitMQ node under $LOCAL: run 'scripts/infra up' first"
  fi
  if rmq_pid >/dev/null; then
    log "rabbitmq: already running"
  else
    local c port svc
    for c in "${CFG[AMQP_PORT]}:AMQP (CLAIMCHECK_AMQP_PORT)" "${CFG[MGMT_PORT]}:management (CLAIMCHECK_MGMT_PORT)" \
             "${CFG[PROM_PORT]}:prometheus (CLAIMCHECK_RMQ_PROM_PORT)" "${CFG[DIST_PORT]}:distribution (CLAIMCHECK_RMQ_DIST_PORT)"; do
      port="${c%%:*}"; svc="${c#*:}"
      port_free "$port" || die "rabbitmq: port $port ($svc) is in use; not starting"
    done
    log "rabbitmq: starting node $RMQ_NODE"
    start_rabbitmq
  fi
  ensure_rmq_user
  log "rabbitmq: ready on 127.0.0.1:${CFG[AMQP_PORT]} ($(elapsed "$t0") s)"
}

cmd_restart_rabbit() {
  local t0; t0="$(now)"
  cmd_stop_rabbit
  cmd_start_rabbit
  log "rabbitmq: restarted in $(elapsed "$t0") s"
}

ps_row() { printf '%-12s %-8s %-6s %-22s %s\n' "$@"; }
rss_of() { local pid="$1"; awk '/VmRSS/{printf "%d MiB", $2/1024}' "/proc/$pid/status" 2>/dev/null; }

cmd_ps() {
  ps_row SERVICE PID ALIVE ADDRESS "HEALTH (RSS)"
  local pid alive health
  row() { # row NAME PIDFUNC ADDRESS PROBEFUNC
    local name="$1" pf="$2" addr="$3" probe="$4" pid="-" alive=no health=down
    if pid="$($pf)"; then alive=yes; else pid="$(head -n1 "${5:-/dev/null}" 2>/dev/null || true)"; pid="${pid:--}"; fi
    # A server we stopped (or an optional one not started this time) is "stopped", not a failure.
    if [ "$alive" = yes ]; then
      if $probe >/dev/null 2>&1; then health=ok; else health=FAIL; fi
      health="$health ($(rss_of "$pid"))"
    else
      health=stopped
    fi
    ps_row "$name" "$pid" "$alive" "$addr" "$health"
  }
  local oid; oid="$(osd_id || true)"
  row ceph-mon mon_pid "127.0.0.1:${CFG[MON_PORT]}" mon_ready "$CEPH_DIR/run/mon.a.pid"
  row ceph-osd osd_pid "(osd.${oid:-?})" osd_up "$CEPH_DIR/run/osd.${oid:-x}.pid"
  row radosgw rgw_pid "127.0.0.1:${CFG[S3_PORT]}" s3_ok "$CEPH_DIR/run/$RGW_NAME.pid"
  row rabbitmq rmq_pid "127.0.0.1:${CFG[AMQP_PORT]}" rmq_healthy "$RMQ_DIR/rabbitmq.pid"
  if tls_wanted; then
    row amqps rmq_pid "127.0.0.1:${CFG[AMQPS_PORT]}" rmq_tls_ok
    row s3-https rgw_pid "127.0.0.1:${CFG[S3_TLS_PORT]}" rgw_tls_ok
  fi
  row rmq-mgmt rmq_pid "127.0.0.1:${CFG[MGMT_PORT]}" rmq_user_ok
  row rmq-prom rmq_pid "127.0.0.1:${CFG[PROM_PORT]}" prom_ok
  row epmd epmd_pid "127.0.0.1:${CFG[EPMD_PORT]}" epmd_ok "$RMQ_DIR/epmd.pid"
  if [ -d "$PG_DIR" ]; then
    row postgres pg_pid "127.0.0.1:${CFG[PG_PORT]}" pg_ready "$PG_DIR/data/postmaster.pid"
  fi
  cl_ps
  if [ -d "$PROM_DIR" ]; then
    row prometheus prometheus_pid "127.0.0.1:${CFG[PROMETHEUS_PORT]}" prometheus_ready "$PROM_DIR/prometheus.pid"
    if prometheus_ready; then
      local t; t="$(curl -s --max-time 5 "$(prometheus_url)/api/v1/targets?state=active" |
        jq -r '[.data.activeTargets[] | "\(.labels.job)=\(.health)"] | join(" ")' 2>/dev/null)" || true
      [ -z "$t" ] || echo "prometheus targets: $t"
    fi
  fi
  [ -f "$ENV_FILE" ] && echo "settings: $ENV_FILE" || true
}
rmq_healthy() { [ "$(mgmt_get /api/aliveness-test/%2F)" = 200 ]; }
prom_ok() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${CFG[PROM_PORT]}/metrics")" = 200 ]; }
epmd_ok() { ERL_EPMD_PORT="${CFG[EPMD_PORT]}" timeout 5 epmd -port "${CFG[EPMD_PORT]}" -names >/dev/null 2>&1; }

cmd_logs() {
  local n=40 follow=0
  while [ $# -gt 0 ]; do
    case "$1" in
      -n) n="$2"; shift 2 ;;
      -n*) n="${1#-n}"; shift ;;
      -f|--follow) follow=1; shift ;;
      *) die "logs: unknown option $1 (use -n N, -f)" ;;
    esac
  done
  local files=() f
  for f in "$CEPH_DIR"/log/mon.a.log "$CEPH_DIR"/log/osd.*.log "$CEPH_DIR/log/$RGW_NAME.log" \
           "$(rmq_log)" "$RMQ_DIR/log/startup.log" "$PG_DIR/log/postgres.log" "$PROM_DIR/log/prometheus.log" \
           "$CL_DIR"/r[123]/log/r[123]@localhost.log "$CL_DIR/haproxy.log"; do
    [ -f "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || { log "no logs under $LOCAL"; return 0; }
  if [ "$follow" = 1 ]; then exec tail -n "$n" -F "${files[@]}"; fi
  for f in "${files[@]}"; do
    echo "==> $f <=="
    tail -n "$n" "$f"
    echo
  done
}

# ---------------------------------------------------------------- rabbitmq cluster (CLUSTER=1)

# Three RabbitMQ nodes r1..r3@localhost clustered via classic_config peer discovery, with their own epmd,
# plus HAProxy (TCP, `balance first`) in front of them. Node N uses port CLUSTER_*_PORT + N - 1.
# Everything lives under $CL_DIR; it runs independently of the single node (different ports and epmd).
CL_NODES=(1 2 3)
cl_node()  { echo "r$1@localhost"; }
cl_port()  { echo $(( ${CFG[$1]} + $2 - 1 )); }   # cl_port CLUSTER_X_PORT N
cl_pid()   { pid_of "$CL_DIR/r$1/rabbitmq.pid" beam.smp; }
cl_epmd_pid() { pid_of "$CL_DIR/epmd.pid" epmd; }
haproxy_pid() { pid_of "$CL_DIR/haproxy.pid" haproxy; }
cl_log()   { echo "$CL_DIR/r$1/log/$(cl_node "$1").log"; }
cl_url()   { echo "amqp://${CFG[AMQP_USER]}:${CFG[AMQP_PASSWORD]}@127.0.0.1:$1/%2F"; }

cl_env() { # cl_env N: environment of node N (and of rabbitmqctl talking to it)
  local n="$1" d="$CL_DIR/r$1"
  export HOME="$CL_DIR/home"
  export ERL_EPMD_PORT="${CFG[CLUSTER_EPMD_PORT]}" ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_NODENAME="$(cl_node "$n")" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$(cl_port CLUSTER_AMQP_PORT "$n")" RABBITMQ_DIST_PORT="$(cl_port CLUSTER_DIST_PORT "$n")"
  export RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log"
  export RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" RABBITMQ_PID_FILE="$d/rabbitmq.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$CL_DIR/enabled_plugins"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$CL_DIR/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$CL_DIR/rabbitmq-env.conf"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}
clctl() { local n="$1"; shift; ( cl_env "$n"; timeout 150 "$RMQ_BIN/rabbitmqctl" -n "$(cl_node "$n")" "$@" ); }

# cl_running N: the running cluster members as seen by node N, one per line.
cl_running() { clctl "$1" cluster_status --formatter json 2>/dev/null | jq -r '.running_nodes[]'; }
# cl_all_running N: node N sees all three nodes running.
cl_all_running() {
  local r; r="$(cl_running "$1")" || return 1
  local m; for m in "${CL_NODES[@]}"; do grep -qx "$(cl_node "$m")" <<<"$r" || return 1; done
}
# amqp_answers PORT: an AMQP 0-9-1 protocol header gets a connection.start frame (type 1) back.
amqp_answers() {
  local b
  b="$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "AMQP\x00\x00\x09\x01" >&3 && head -c1 <&3' _ "$1" 2>/dev/null |
       od -An -tx1 | tr -d ' \n')" || return 1
  [ "$b" = 01 ]
}
haproxy_ok() { amqp_answers "${CFG[CLUSTER_PORT]}"; }
cl_mgmt_get() { # cl_mgmt_get N PATH: prints HTTP status
  printf 'user = "%s:%s"\n' "${CFG[AMQP_USER]}" "${CFG[AMQP_PASSWORD]}" |
    curl -s -K - -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$(cl_port CLUSTER_MGMT_PORT "$1")$2" 2>/dev/null || true
}

# cl_port_checks NEED_EPMD NEED_HAPROXY NODE...: appends "port:service" entries to the caller's `checks`.
cl_port_checks() {
  local need_epmd="$1" need_hap="$2" n; shift 2
  [ "$need_epmd" = 1 ] && checks+=("${CFG[CLUSTER_EPMD_PORT]}:cluster epmd (CLAIMCHECK_CLUSTER_EPMD_PORT)")
  [ "$need_hap" = 1 ] && checks+=("${CFG[CLUSTER_PORT]}:cluster HAProxy (CLAIMCHECK_CLUSTER_PORT)")
  for n in "$@"; do
    checks+=("$(cl_port CLUSTER_AMQP_PORT "$n"):cluster node $n AMQP (CLAIMCHECK_CLUSTER_AMQP_PORT+$((n-1)))"
             "$(cl_port CLUSTER_MGMT_PORT "$n"):cluster node $n management (CLAIMCHECK_CLUSTER_MGMT_PORT+$((n-1)))"
             "$(cl_port CLUSTER_PROM_PORT "$n"):cluster node $n prometheus (CLAIMCHECK_CLUSTER_PROM_PORT+$((n-1)))"
             "$(cl_port CLUSTER_DIST_PORT "$n"):cluster node $n distribution (CLAIMCHECK_CLUSTER_DIST_PORT+$((n-1)))")
  done
  return 0
}
# cl_missing: prints the numbers of the cluster nodes that are not running.
cl_missing() { local n; for n in "${CL_NODES[@]}"; do cl_pid "$n" >/dev/null || echo "$n"; done; }

cl_write_files() {
  mkdir -p "$CL_DIR/home"
  if [ ! -f "$CL_DIR/home/.erlang.cookie" ]; then
    ( umask 077; printf '%s' "${CFG[ERLANG_COOKIE]}" > "$CL_DIR/home/.erlang.cookie" )
  fi
  chmod 400 "$CL_DIR/home/.erlang.cookie"
  echo '[rabbitmq_management,rabbitmq_prometheus].' > "$CL_DIR/enabled_plugins"
  : > "$CL_DIR/rabbitmq-env.conf"
  # Quorum queues get one member per node (x-quorum-initial-group-size defaults to quorum_cluster_size).
  echo "[{rabbit, [{quorum_cluster_size, ${#CL_NODES[@]}}]}]." > "$CL_DIR/advanced.config"
  local n m
  for n in "${CL_NODES[@]}"; do
    mkdir -p "$CL_DIR/r$n"/{mnesia,log}
    ( umask 077; {
      cat <<EOC
# Generated by scripts/infra (cluster node $n)
listeners.tcp.local = 127.0.0.1:$(cl_port CLUSTER_AMQP_PORT "$n")
management.tcp.ip = 127.0.0.1
management.tcp.port = $(cl_port CLUSTER_MGMT_PORT "$n")
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $(cl_port CLUSTER_PROM_PORT "$n")
default_vhost = /
default_user = ${CFG[AMQP_USER]}
default_pass = ${CFG[AMQP_PASSWORD]}
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
loopback_users = none
log.file.level = info
log.console = false
cluster_formation.peer_discovery_backend = classic_config
cluster_formation.randomized_startup_delay_range.min = 0
cluster_formation.randomized_startup_delay_range.max = 1
EOC
      for m in "${CL_NODES[@]}"; do echo "cluster_formation.classic_config.nodes.$m = $(cl_node "$m")"; done
    } > "$CL_DIR/r$n/rabbitmq.conf" )
  done
  local servers=""
  for n in "${CL_NODES[@]}"; do
    servers+="  server r$n 127.0.0.1:$(cl_port CLUSTER_AMQP_PORT "$n") check inter 1s rise 2 fall 2 on-marked-down shutdown-sessions"$'\n'
  done
  cat > "$CL_DIR/haproxy.cfg" <<EOC
# Generated by scripts/infra: TCP proxy in front of the RabbitMQ cluster. 'balance first' sends every
# connection to the first healthy node (r1 while it is up); a dead node is marked down after 2 failed
# 1 s checks and its sessions are cut, so clients reconnect and land on the next node.
global
  log stderr format raw local0 info
  maxconn 4096
  stats socket $CL_DIR/haproxy.sock mode 600 level admin

defaults
  mode tcp
  log global
  option tcplog
  timeout connect 3s
  timeout client 3h
  timeout server 3h
  timeout check 2s
  retries 2
  option redispatch

listen amqp
  bind 127.0.0.1:${CFG[CLUSTER_PORT]}
  balance first
  option tcp-check
$servers
EOC
}

cl_start_epmd() {
  cl_epmd_pid >/dev/null && return 0
  ( cl_env 1; epmd -daemon -port "${CFG[CLUSTER_EPMD_PORT]}" -address 127.0.0.1 ) || die "cluster epmd failed to start"
  local i pid=""
  for ((i = 0; i < 50; i++)); do
    pid="$(port_listeners "${CFG[CLUSTER_EPMD_PORT]}" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)" || true
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || die "cluster epmd did not listen on 127.0.0.1:${CFG[CLUSTER_EPMD_PORT]}"
  echo "$pid" > "$CL_DIR/epmd.pid"
}

# cl_launch N: rabbitmq-server -detached for node N; returns once its pid file exists.
cl_launch() {
  local n="$1" d="$CL_DIR/r$1"
  rm -f "$d/rabbitmq.pid"
  ( cl_env "$n"; "$RMQ_BIN/rabbitmq-server" -detached >>"$d/log/startup.log" 2>&1 ) ||
    die "cluster node $n: rabbitmq-server -detached failed; see $d/log/startup.log"
  local t0; t0=$(date +%s)
  while [ ! -s "$d/rabbitmq.pid" ]; do
    (( $(date +%s) - t0 < 60 )) || die "cluster node $n: no pid file after 60s; see $(cl_log "$n")"
    sleep 0.3
  done
}
# cl_wait N: waits until node N has fully booted (it waits for its peers' tables, so start peers in parallel).
cl_wait() {
  clctl "$1" wait --timeout "$UP_TIMEOUT" "$CL_DIR/r$1/rabbitmq.pid" >>"$CL_DIR/r$1/log/startup.log" 2>&1 ||
    die "cluster node $1 did not start within ${UP_TIMEOUT}s; see $(cl_log "$1")"
}
# cl_wait_cluster N: waits until node N sees all three nodes running.
cl_wait_cluster() {
  wait_for "cluster node $1 sees all nodes running" "$UP_TIMEOUT" "$(cl_log "$1")" "cl_pid $1" cl_all_running "$1"
}

cl_start_haproxy() {
  haproxy_pid >/dev/null && return 0
  haproxy -c -q -f "$CL_DIR/haproxy.cfg" >>"$CL_DIR/haproxy.log" 2>&1 || die "haproxy: bad config; see $CL_DIR/haproxy.log"
  # Foreground mode (-db) in its own session, so logs go to a file and the pid is ours.
  setsid haproxy -db -f "$CL_DIR/haproxy.cfg" </dev/null >>"$CL_DIR/haproxy.log" 2>&1 &
  echo $! > "$CL_DIR/haproxy.pid"
  wait_for "haproxy (127.0.0.1:${CFG[CLUSTER_PORT]})" 30 "$CL_DIR/haproxy.log" haproxy_pid haproxy_ok
}

# cl_up: starts what is missing of the cluster (ports already checked by the caller) and waits until all
# three nodes are clustered and HAProxy answers.
cl_up() {
  local t0; t0="$(now)"
  mkdir -p "$CL_DIR"
  cl_write_files
  cl_start_epmd
  local missing n; missing="$(cl_missing | tr '\n' ' ')"
  if [ -n "${missing// /}" ]; then
    log "cluster: starting node(s) $missing"
    for n in $missing; do cl_launch "$n"; done
    local pids=() rc=0
    for n in $missing; do cl_wait "$n" & pids+=($!); done
    for n in "${pids[@]}"; do wait "$n" || rc=1; done
    [ "$rc" = 0 ] || die "cluster: a node did not start (see messages above)"
  fi
  if [ ! -e "$CL_DIR/formed" ]; then
    # First formation: should a node have booted before its peers were reachable and formed a cluster of
    # its own, join it to r1 explicitly (it holds no data yet).
    for n in 2 3; do
      if ! cl_running "$n" | grep -qx "$(cl_node 1)"; then
        warn "cluster: node $n is not clustered with r1: joining it"
        { clctl "$n" stop_app && clctl "$n" reset && clctl "$n" join_cluster "$(cl_node 1)" && clctl "$n" start_app; } \
          >>"$CL_DIR/r$n/log/startup.log" 2>&1 || die "cluster: node $n could not join r1; see $CL_DIR/r$n/log/startup.log"
      fi
    done
  fi
  cl_wait_cluster 1
  touch "$CL_DIR/formed"
  # The user exists from default_user on first boot; make sure it matches the current config.
  if [ "$(cl_mgmt_get 1 /api/whoami)" != 200 ]; then
    local u="${CFG[AMQP_USER]}"
    log "cluster: setting up user $u"
    { clctl 1 add_user "$u" <<<"${CFG[AMQP_PASSWORD]}" || clctl 1 change_password "$u" <<<"${CFG[AMQP_PASSWORD]}"
      clctl 1 set_user_tags "$u" administrator
      clctl 1 set_permissions -p / "$u" '.*' '.*' '.*'
    } >>"$CL_DIR/r1/log/startup.log" 2>&1 || die "cluster user setup failed; see $CL_DIR/r1/log/startup.log"
  fi
  cl_start_haproxy
  log "cluster: ready, 3 nodes + HAProxy on 127.0.0.1:${CFG[CLUSTER_PORT]} ($(elapsed "$t0") s)"
}

# An Erlang node (or a CLI tool run with our ERL_EPMD_PORT) that finds no epmd starts its own with
# `epmd -daemon`, which has no pid file of ours and would keep the port taken after `down`. Stop such an
# epmd on our private port, and only one whose executable is epmd.
stop_epmd_on_port() { # stop_epmd_on_port NAME PORT
  local pid
  for pid in $(ss -Hltnp "sport = :$2" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = epmd ] && stop_pid "$1" "$pid" TERM || true
  done
}

cl_down() {
  local pids=() n
  stop_by haproxy haproxy_pid
  for n in "${CL_NODES[@]}"; do ( stop_by "cluster node $n" "cl_pid $n" ) & pids+=($!); done
  wait "${pids[@]}" 2>/dev/null || true
  stop_by "cluster epmd" cl_epmd_pid
  stop_epmd_on_port "cluster epmd (auto-started)" "${CFG[CLUSTER_EPMD_PORT]}"
}

cl_node_arg() { # validates the node number argument of stop-node/start-node
  [[ "${1:-}" =~ ^[1-3]$ ]] || die "expected a cluster node number 1..3, got '${1:-}'"
}

# stop-node N: graceful stop (SIGTERM, SIGKILL after STOP_TIMEOUT) of cluster node N; data kept.
cmd_stop_node() {
  cl_node_arg "${1:-}"; local n="$1" t0 pid; t0="$(now)"
  if pid="$(cl_pid "$n")"; then
    stop_by "cluster node $n" "cl_pid $n"
    if cl_pid "$n" >/dev/null; then die "cluster node $n (pid $pid) is still running"; fi
    log "cluster: node $n stopped in $(elapsed "$t0") s"
  else
    log "cluster: node $n not running"
  fi
}

# kill-node N: SIGKILL of cluster node N (a crash; failover tests). Data kept; start-node brings it back.
cmd_kill_node() {
  cl_node_arg "${1:-}"; local n="$1" pid
  if pid="$(cl_pid "$n")"; then
    kill -KILL "$pid" || die "cannot signal cluster node $n (pid $pid)"
    while [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do sleep 0.05; done
    log "cluster: node $n killed (pid $pid)"
  else
    log "cluster: node $n not running"
  fi
}

# start-node N: starts cluster node N with its data of the last 'up' and waits until it rejoined the cluster.
cmd_start_node() {
  cl_node_arg "${1:-}"; local n="$1" t0; t0="$(now)"
  [ -d "$CL_DIR/r$n/mnesia" ] && [ -f "$CL_DIR/formed" ] || die "no cluster under $LOCAL: run 'scripts/infra up CLUSTER=1' first"
  if cl_pid "$n" >/dev/null; then
    log "cluster: node $n already running"
  else
    local checks=() c
    cl_port_checks 0 0 "$n"
    for c in "${checks[@]}"; do port_free "${c%%:*}" || die "port ${c%%:*} (${c#*:}) is in use; not starting"; done
    cl_write_files
    cl_start_epmd
    log "cluster: starting node $n"
    cl_launch "$n"
    cl_wait "$n"
  fi
  cl_wait_cluster "$n"
  # HAProxy sends new connections to the node again only once its checks pass (rise 2 x 1 s).
  if haproxy_pid >/dev/null; then
    wait_for "haproxy marks node $n UP" 30 "$CL_DIR/haproxy.log" haproxy_pid haproxy_server_up "$n"
  fi
  log "cluster: node $n running and clustered ($(elapsed "$t0") s)"
}

cl_ps() {
  [ -d "$CL_DIR" ] || return 0
  local n
  for n in "${CL_NODES[@]}"; do
    row "r$n" "cl_pid $n" "127.0.0.1:$(cl_port CLUSTER_AMQP_PORT "$n")" "amqp_answers $(cl_port CLUSTER_AMQP_PORT "$n")" "$CL_DIR/r$n/rabbitmq.pid"
  done
  row cluster "cl_pid 1" "(r1 sees 3 running)" "cl_all_running 1"
  row haproxy haproxy_pid "127.0.0.1:${CFG[CLUSTER_PORT]}" haproxy_ok "$CL_DIR/haproxy.pid"
  row cl-epmd cl_epmd_pid "127.0.0.1:${CFG[CLUSTER_EPMD_PORT]}" cl_epmd_ok "$CL_DIR/epmd.pid"
}
# haproxy_server_up N: HAProxy's health check state of node N is UP (stats socket, via socat).
haproxy_server_up() {
  [ "$(echo "show stat" | timeout 5 socat -t2 stdio "unix-connect:$CL_DIR/haproxy.sock" 2>/dev/null |
       awk -F, -v s="r$1" '$1 == "amqp" && $2 == s {print $18}')" = UP ]
}
cl_epmd_ok() { ERL_EPMD_PORT="${CFG[CLUSTER_EPMD_PORT]}" timeout 5 epmd -port "${CFG[CLUSTER_EPMD_PORT]}" -names >/dev/null 2>&1; }
