# shellcheck shell=bash
# The 3-node RabbitMQ cluster behind HAProxy (CLUSTER=1). Sourced by scripts/infra (after common.sh), not executed.

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
  rmq_node_files "$CL_DIR"
  # Quorum queues get one member per node (x-quorum-initial-group-size defaults to quorum_cluster_size).
  echo "[{rabbit, [{quorum_cluster_size, ${#CL_NODES[@]}}]}]." > "$CL_DIR/advanced.config"
  local n m
  for n in "${CL_NODES[@]}"; do
    mkdir -p "$CL_DIR/r$n"/{mnesia,log}
    ( umask 077; {
      rmq_conf "cluster node $n" "$(cl_port CLUSTER_AMQP_PORT "$n")" "$(cl_port CLUSTER_MGMT_PORT "$n")" \
        "$(cl_port CLUSTER_PROM_PORT "$n")"
      cat <<EOC
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
  record_listener_pid "cluster epmd" "${CFG[CLUSTER_EPMD_PORT]}" "$CL_DIR/epmd.pid"
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
