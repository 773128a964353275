#!/usr/bin/env bash
# Peak RSS of `claimcheck produce --concurrency 16` sending 400 × 1 MiB incompressible files through the
# local servers (`make up`) — issue 10 acceptance: at most 64 MiB. Prints figures; asserts nothing.
# Objects are stored with --ttl 1s, so one `coordinator --once` afterwards expires and deletes them all.
# Usage: bench/producer_concurrency_rss.sh [FILES=400] [CONCURRENCY=16]   (env CLAIMCHECK_BINARY)
set -euo pipefail
files=${1:-400}
conc=${2:-16}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin=${CLAIMCHECK_BINARY:-$root/build/apps/claimcheck/claimcheck}
[ -n "${AMQP_URL:-}" ] || { set -a; . "$root/.local/env"; set +a; }
tag="rss$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq 1 "$files"); do head -c 1048576 /dev/urandom >"$work/f$i.bin"; done
TOPO=(--msg-exchange "ex.$tag.msg" --ack-exchange "ex.$tag.ack" --ack-queue "q.$tag.ack" --dlx "ex.$tag.dlx"
      --dead-queue "q.$tag.dead" --queue-prefix "q.$tag.")
. "$root/tests/support/rmq_topology_cleanup.sh"
user=$(sed -E 's#^amqps?://([^:@/]+).*#\1#' <<<"${AMQP_URL%%,*}")
out=$(/usr/bin/time -v "$bin" produce "${TOPO[@]}" --dir "$work" --recipients r --concurrency "$conc" \
  --key-prefix "bench-$tag" --ttl 1s --log-level warn 2>&1)
kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' <<<"$out")
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' <<<"$out")
sleep 2
"$bin" coordinator "${TOPO[@]}" --db "sqlite:$work/coord.db" --key-prefix "bench-$tag" --lifecycle-days 0 \
  --producer-users "$user" --once --log-level warn >/dev/null 2>&1 || echo "bench: cleanup coordinator failed"
rmq_delete_topology "$tag" r
awk -v kb="$kb" -v f="$files" -v c="$conc" -v w="$wall" 'BEGIN {
  mib = kb / 1024; printf "producer %d x 1 MiB at --concurrency %d: peak RSS %.1f MiB (target <= 64 MiB: %s), wall %s\n",
  f, c, mib, (mib <= 64 ? "met" : "NOT met"), w }'
