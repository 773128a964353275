# Sourced by the bench/*.sh benchmarks (scripts/bench runs them). Sourcing it sets BENCH_ROOT (the checkout),
# `bin` (CLAIMCHECK_BINARY or the build's claimcheck), loads .local/env unless AMQP_URL is set already, and
# sources tests/support/rmq_topology_cleanup.sh (rmq_api, rmq_delete_topology) and s3_prefix_cleanup.sh
# (s3_curl_config, s3_delete_prefix). Then:
# - bench_tag PREFIX: a unique name (PREFIX + 8 hex digits) for queues, exchanges and keys of one run.
# - bench_topology TAG: sets TOPO, the claimcheck flags of a private topology (ex.TAG.*, q.TAG.*), which
#   rmq_delete_topology TAG RECIPIENT... removes; bench_user: the broker user of AMQP_URL.
# - bench_row NAME CLAIMCHECK BASELINE UNIT CHECK: one result line for scripts/bench's side-by-side table,
#   "ROW|name|claimcheck|baseline|unit|check". CHECK is "ratio>=0.9" / "ratio<=0.01" (claimcheck / baseline) or
#   "value<=64" / "value>=20000" (the claimcheck figure alone; BASELINE "-").
# - bench_now: seconds since the epoch with nanoseconds; bench_secs T0 T1: T1 - T0 (3 decimals).
# - bench_cpu_ticks PID: user + system clock ticks a running process used so far (/proc/PID/stat), 0 if gone.
# - bench_listener_pid URL: the pid of the process listening on URL's port on this host (ss), 0 if none.
# - bench_time_cpu FILE: user + system seconds from a `/usr/bin/time -f '%U %S %M' -o FILE` record.
# - bench_time_rss_mib FILE: the peak RSS (MiB) of such a record.
BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin=${CLAIMCHECK_BINARY:-$BENCH_ROOT/build/apps/claimcheck/claimcheck}
if [ -z "${AMQP_URL:-}" ] && [ -f "$BENCH_ROOT/.local/env" ]; then set -a; . "$BENCH_ROOT/.local/env"; set +a; fi
. "$BENCH_ROOT/tests/support/rmq_topology_cleanup.sh"
. "$BENCH_ROOT/tests/support/s3_prefix_cleanup.sh"

bench_tag() { echo "$1$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"; }
bench_topology() { rmq_topology_flags TOPO "$1"; }  # tests/support/rmq_topology_cleanup.sh
bench_user() { amqp_user; }  # tests/support/amqp_url.sh

bench_row() { printf 'ROW|%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "$5"; }

bench_now() { date +%s.%N; }
bench_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

bench_cpu_ticks() {
  local f
  f=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return 0; }
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' <<<"$f"  # fields 14, 15 counted after "pid (comm) "
}

bench_listener_pid() {
  local port
  port=$(sed -E 's#^[a-z]+://([^@/]*@)?[^:/]+:([0-9]+).*#\2#' <<<"$1")
  ss -ltnpH "sport = :$port" 2>/dev/null | grep -oE 'pid=[0-9]+' | head -1 | cut -d= -f2 | grep . || echo 0
}

bench_time_cpu() { awk 'NF >= 2 && $1 ~ /^[0-9.]+$/ { s = $1 + $2 } END { printf "%.2f", s }' "$1"; }
bench_time_rss_mib() { awk 'NF >= 3 && $1 ~ /^[0-9.]+$/ { m = $3 } END { printf "%.1f", m / 1024 }' "$1"; }

