# shellcheck shell=bash
# The subcommands: up, down, clean, ps, logs, and the env file they write. Sourced by scripts/infra (after common.sh), not executed.

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

# Dies naming every port that cmd_up is about to bind and that is in use; nothing is started then. Reads
# cmd_up's need_* / tls_* / cl_* locals (bash scoping: called from cmd_up only).
up_check_ports() {
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
}

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

  up_check_ports  # every port we are about to bind must be free (before anything starts)

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
    rmq_up "$need_rmq" &
    rmq_job=$!
  fi

  local cl_job="" cl_status=0
  if [ $need_cluster = 1 ]; then cl_up & cl_job=$!; fi

  local pg_job="" pg_status=0
  if [ $need_pg = 1 ]; then
    pg_up &
    pg_job=$!
  fi

  if (( need_mon + need_osd + need_rgw > 0 )); then ceph_up; fi
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
  if [ $need_prom = 1 ]; then prometheus_up; fi
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

