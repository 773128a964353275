# shellcheck shell=bash
# Sourced by the shell tests of tests/e2e and tests/deploy that run the real `claimcheck` binary on the local
# servers: what each of them begins with. Use, after `set -euo pipefail`:
#   . "$(dirname "${BASH_SOURCE[0]}")/../support/e2e_lib.sh"
#   e2e_start "$@"                      # REPO_ROOT CLAIMCHECK_BINARY
#   e2e_require curl jq python3         # tools the test runs
#   e2e_load_env AMQPS_URL              # optional: .local/env unless AMQPS_URL is set already
#   e2e_need_env "make up TLS=1" AMQP_URL AMQPS_URL ...
#   e2e_topology "$u"                   # topo=(--msg-exchange ex.$u.msg ... --queue-prefix q.$u.)
#   cleanup() { local rc=$?; ...; [ "$rc" = 0 ] || e2e_tails 20 "$tmp"/*.log; rm -rf "$tmp"; exit "$rc"; }
# It offers:
# - e2e_start "$@": sets `root` and `bin` from the two arguments (the usage message "usage: NAME.sh REPO_ROOT
#   CLAIMCHECK_BINARY" and exit otherwise), `e2e_name` (NAME, the test file's name without .sh), `t_start`
#   (date +%s) and sources tests/support/s3_prefix_cleanup.sh (s3_delete_prefix, s3_curl_config) and
#   rmq_topology_cleanup.sh (rmq_api, rmq_delete_topology, the amqp_user/amqp_password/amqp_curl_user of
#   amqp_url.sh).
# - fail MSG: "NAME: FAIL: MSG" on stderr, exit 1; note MSG: "NAME: MSG" on stdout. A test with other needs
#   (e.g. keeping its logs) defines its own fail after e2e_start.
# - e2e_require TOOL...: fails unless every TOOL is on PATH and $bin is executable.
# - e2e_load_env VAR: loads $root/.local/env (set -a) when VAR is empty and the file exists (the environment
#   `make test` exported from it wins).
# - e2e_need_env UP VAR...: fails unless every VAR is set, naming the `UP` that provides it ("make up",
#   "make up TLS=1").
# - e2e_topology NS: sets the array `topo`, the claimcheck flags of a topology of the test's own (exchanges
#   ex.NS.*, queues q.NS.*), which rmq_delete_topology NS RECIPIENT... removes.
# - free_port: a free TCP port on 127.0.0.1.
# - e2e_wait_healthy PID BASE_URL: waits up to 15 s for the coordinator PID (started with --http-addr) to show
#   a connected broker and a reachable store in BASE_URL/api/status; fails if PID exits meanwhile; returns 1
#   if it is not healthy then.
# - e2e_tails LINES FILE...: the last LINES lines of each FILE that exists, each under "---- tail of NAME", on
#   stderr (for a cleanup trap after a failure).

e2e_start() {
  e2e_name=$(basename "$0" .sh)
  root=${1:?usage: $e2e_name.sh REPO_ROOT CLAIMCHECK_BINARY}
  bin=${2:?usage: $e2e_name.sh REPO_ROOT CLAIMCHECK_BINARY}
  # shellcheck disable=SC2034 # for the test's "OK in N s"
  t_start=$(date +%s)
  # shellcheck source=tests/support/s3_prefix_cleanup.sh
  . "$root/tests/support/s3_prefix_cleanup.sh"
  # shellcheck source=tests/support/rmq_topology_cleanup.sh
  . "$root/tests/support/rmq_topology_cleanup.sh"
}

fail() { echo "$e2e_name: FAIL: $*" >&2; exit 1; }
note() { echo "$e2e_name: $*"; }

e2e_require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || fail "'$tool' is not installed (scripts/bootstrap installs it)"
  done
  [ -x "$bin" ] || fail "claimcheck binary '$bin' is not executable"
}

e2e_load_env() {
  # shellcheck disable=SC1091 # the settings `make up` wrote
  if [ -z "${!1:-}" ] && [ -f "$root/.local/env" ]; then set -a; . "$root/.local/env"; set +a; fi
}

e2e_need_env() {
  local up=$1 v; shift
  for v in "$@"; do
    [ -n "${!v:-}" ] || fail "$v is not set: run '$up' and load .local/env (set -a; . .local/env; set +a)"
  done
}

# shellcheck disable=SC2034 # topo is the test's
e2e_topology() { topo=(); rmq_topology_flags topo "$1"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

e2e_wait_healthy() {
  local pid=$1 url="$2/api/status" i
  local healthy='.health.broker_connected and .health.store_reachable and .health.started_at != null'
  for ((i = 0; i < 150; i++)); do
    curl -sf --max-time 5 "$url" 2>/dev/null | jq -e "$healthy" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || fail "the coordinator exited while starting"
    sleep 0.1
  done
  curl -sf --max-time 5 "$url" | jq -e "$healthy" >/dev/null
}

e2e_tails() {
  local lines=$1 f; shift
  for f in "$@"; do
    [ -f "$f" ] && { echo "---- tail of $(basename "$f")" >&2; tail -n "$lines" "$f" >&2; }
  done
  return 0
}
