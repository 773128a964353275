#!/usr/bin/env bash
# Peak RSS of `claimcheck produce --concurrency 16` sending 400 × 1 MiB incompressible files through the
# local servers (`make up`) — issue 10 acceptance: at most 64 MiB. Prints figures and a ROW line for scripts/bench's
# table; asserts nothing.
# Objects are stored with --ttl 1s, so one `coordinator --once` afterwards expires and deletes them all.
# Usage: bench/producer_concurrency_rss.sh [FILES=400] [CONCURRENCY=16]   (env CLAIMCHECK_BINARY)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
files=${1:-400}
conc=${2:-16}
tag=$(bench_tag rss)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq 1 "$files"); do head -c 1048576 /dev/urandom >"$work/f$i.bin"; done
bench_topology "$tag"
user=$(bench_user)
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
  f, c, mib, (mib <= 64 ? "met" : "NOT met"), w
  printf "ROW|producer %d x 1 MiB at --concurrency %d, peak RSS (MiB)|%.1f|-|MiB|value<=64\n", f, c, mib }'
