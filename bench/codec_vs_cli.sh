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
# secs CMD: seconds one run of a shell pipeline takes; min A B: the smaller ("" = none yet).
secs() { local t0; t0=$(bench_now); bash -c "$1" >/dev/null; bench_secs "$t0" "$(bench_now)"; }
min() { awk -v b="$1" -v s="$2" 'BEGIN { print (b == "" || s < b) ? s : b }'; }
zstd -1 -q -c "$work/raw" >"$work/cli.zst"
# Three rounds, each CLI encode, ours (encode and decode), CLI decode back to back; the best of each (the
# machine is shared and its load drifts: interleaving keeps both sides under the same load).
cli_enc="" cli_dec="" enc="" dec="" line=""
for i in 1 2 3; do
  cli_enc=$(min "$cli_enc" "$(secs "zstd -1 -q -c '$work/raw' | sha256sum")")
  line=$("$bench_bin" --file "$work/raw" "$work/cc.zst")
  enc=$(min "$enc" "$(sed -E 's/.*encode_s=([0-9.]+).*/\1/' <<<"$line")")
  dec=$(min "$dec" "$(sed -E 's/.*decode_s=([0-9.]+).*/\1/' <<<"$line")")
  cli_dec=$(min "$cli_dec" "$(secs "zstd -d -q -c '$work/cli.zst' | sha256sum")")
done
echo "codec: $line; best of 3: claimcheck encode ${enc} s, decode ${dec} s; CLI encode ${cli_enc} s, decode ${cli_dec} s"
rate() { awk -v n="$mib" -v s="$1" 'BEGIN { printf "%.1f", n / s }'; }
bench_row "codec encode+hash zstd -1, $mib MiB (MiB/s)" "$(rate "$enc")" "$(rate "$cli_enc")" "MiB/s" "ratio>=0.8"
bench_row "codec decode+verify zstd, $mib MiB (MiB/s)" "$(rate "$dec")" "$(rate "$cli_dec")" "MiB/s" "ratio>=0.8"
