#!/usr/bin/env bash
# claimcheck's codec (zstd level 1 + SHA-256 in one pass, as the producer and consumer run it) next to the CLI
# pipelines doing the same work in the same run (issue 11 item 1): encode+hash vs `zstd -1 | sha256sum`,
# decode+verify vs `zstd -d | sha256sum`, on one file of SIZE_MIB (half random bytes, half base64 text), read
# from the page cache. The CLI pipelines run two processes (on two cores when free); ours runs on one thread.
# Prints ROW lines (bench/bench_lib.sh).
# Usage: bench/codec_vs_cli.sh [SIZE_MIB=256]   (env BUILD_DIR, default build)
set -euo pipefail
mib=${1:-256}
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_bin="$BENCH_ROOT/${BUILD_DIR:-build}/bench/core_codec_bench"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c "$((mib / 2))M" /dev/urandom >"$work/raw"
head -c "$((mib * 3 / 8))M" /dev/urandom | base64 -w 100 >>"$work/raw"
truncate -s "$((mib))M" "$work/raw"
cat "$work/raw" >/dev/null
# best_of CMD...: the fastest of three runs of a shell pipeline, seconds (the machine is shared).
best_of() {
  local i t0 t1 best=""
  for i in 1 2 3; do
    t0=$(bench_now); bash -c "$1" >/dev/null; t1=$(bench_now)
    best=$(awk -v b="$best" -v s="$(bench_secs "$t0" "$t1")" 'BEGIN { print (b == "" || s < b) ? s : b }')
  done
  echo "$best"
}
cli_enc=$(best_of "zstd -1 -q -c '$work/raw' | sha256sum")
zstd -1 -q -c "$work/raw" >"$work/cli.zst"
cli_dec=$(best_of "zstd -d -q -c '$work/cli.zst' | sha256sum")
enc="" dec="" line=""
for i in 1 2 3; do
  line=$("$bench_bin" --file "$work/raw" "$work/cc.zst")
  e=$(sed -E 's/.*encode_s=([0-9.]+).*/\1/' <<<"$line"); d=$(sed -E 's/.*decode_s=([0-9.]+).*/\1/' <<<"$line")
  enc=$(awk -v b="$enc" -v s="$e" 'BEGIN { print (b == "" || s < b) ? s : b }')
  dec=$(awk -v b="$dec" -v s="$d" 'BEGIN { print (b == "" || s < b) ? s : b }')
done
echo "codec: $line; best of 3: claimcheck encode ${enc} s, decode ${dec} s; CLI encode ${cli_enc} s, decode ${cli_dec} s"
rate() { awk -v n="$mib" -v s="$1" 'BEGIN { printf "%.1f", n / s }'; }
bench_row "codec encode+hash zstd -1, $mib MiB (MiB/s)" "$(rate "$enc")" "$(rate "$cli_enc")" "MiB/s" "ratio>=0.8"
bench_row "codec decode+verify zstd, $mib MiB (MiB/s)" "$(rate "$dec")" "$(rate "$cli_dec")" "MiB/s" "ratio>=0.8"
