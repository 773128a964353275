#!/usr/bin/env bash
# claimcheck's S3 flows next to plain curl doing the same S3 work in the same run on the same servers
# (issue 11 item 1), N incompressible 1 MiB files, R recipients (default 3):
# - end to end: produce -> R consumers verified -> coordinator deleted every object, vs curl: N PUTs (CONC in
#   parallel), R x N GETs (R x CONC in parallel: R consumers of CONC downloads each), N DELETEs (CONC);
# - producer alone (to R recipients, nobody consuming) vs the N PUTs; consumer alone (one recipient draining
#   its N pointers) vs N GETs with CONC in parallel.
# Each curl phase is one `curl --parallel` process (connection reuse, like a library client). Prints ROW lines
# (bench/bench_lib.sh) and the CPU seconds per payload of every process in the end-to-end run (ours from
# /usr/bin/time, the servers' from /proc/PID/stat deltas: those include whatever else ran on them meanwhile).
# Usage: bench/s3_flow_vs_curl.sh [FILES=400] [CONCURRENCY=4] [RECIPIENTS=3]   (env CLAIMCHECK_BINARY, servers
#        from .local/env)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
files=${1:-400}
conc=${2:-4}
nrec=${3:-3}
recipients=()
for i in $(seq 1 "$nrec"); do recipients+=("r$i"); done
tag=$(bench_tag flow)
user=$(bench_user)
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rmq_delete_topology "$tag" "${recipients[@]}"
  rmq_delete_topology "$tag-a" "${recipients[@]}"
  s3_delete_prefix "bench-$tag"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/in"
for i in $(seq 1 "$files"); do head -c 1048576 /dev/urandom >"$work/in/f$i.bin"; done
bench_topology "$tag"
TIMEFMT='%U %S %M'

# curl_phase PARALLEL METHOD COPIES: one curl for every file (COPIES times each), METHOD PUT / GET / DELETE of
# bench-$tag/curl/fI.bin. Prints the seconds taken; fails if any request failed.
curl_phase() {
  local par=$1 method=$2 copies=$3 i c t0 t1
  t0=$(bench_now)
  { s3_curl_config
    [ "$method" = DELETE ] && printf 'request = "DELETE"\n'
    for c in $(seq 1 "$copies"); do
      for i in $(seq 1 "$files"); do
        [ "$method" = PUT ] && printf 'upload-file = "%s/in/f%s.bin"\n' "$work" "$i"
        printf 'url = "%s/%s/bench-%s/curl/f%s.bin"\noutput = "/dev/null"\n' "$S3_ENDPOINT" "$S3_BUCKET" "$tag" "$i"
      done
    done
  } | curl -s -f --parallel --parallel-max "$par" -K - -w '%{http_code}\n' 2>/dev/null >"$work/curl.codes" || {
    echo "bench: curl $method failed: $(sort "$work/curl.codes" | uniq -c | tr '\n' ' ')" >&2; return 1; }
  t1=$(bench_now)
  bench_secs "$t0" "$t1"
}

# until_prefix_empty PREFIX: waits (up to 300 s) until no object is left under PREFIX.
until_prefix_empty() {
  local i
  for i in $(seq 1 3000); do
    s3_curl_config | curl -s -K - "$S3_ENDPOINT/$S3_BUCKET?list-type=2&max-keys=1&prefix=${1//\//%2F}" |
      grep -q '<Key>' || return 0
    sleep 0.1
  done
  echo "bench: objects left under $1 after 300 s" >&2
  return 1
}

consumer() {  # consumer RECIPIENT: one consumer draining its N pointers (verify and discard)
  /usr/bin/time -f "$TIMEFMT" -o "$work/time.$1" "$bin" consume "${TOPO[@]}" --recipient "$1" \
    --allowed-producers "$user" --concurrency "$conc" --max-messages "$files" --idle-exit 120 \
    --state-dir "$work/state.$1" --log-level warn >"$work/log.$1" 2>&1
}

producer() {  # producer PREFIX: every file to every recipient
  /usr/bin/time -f "$TIMEFMT" -o "$work/time.producer" "$bin" produce "${TOPO[@]}" --dir "$work/in" \
    --recipients "$(IFS=,; echo "${recipients[*]}")" --concurrency "$conc" --key-prefix "$1" --log-level warn >"$work/log.producer" 2>&1
}

# wait_consumers Q...: until each queue has its consumer (so the end-to-end clock starts with everybody ready).
wait_consumers() {
  local q i
  for q in "$@"; do
    for i in $(seq 1 200); do
      rmq_api "queues/%2F/$q" | grep -q '"consumers":1' && break
      sleep 0.05
    done
  done
}

# The servers' processes (whatever listens on the endpoints: other nodes may run beside them) and their ticks.
rgw=$(bench_listener_pid "$S3_ENDPOINT") beam=$(bench_listener_pid "${AMQP_URL%%,*}") osd=$(pgrep -o -x ceph-osd || echo 0)
server_ticks() { echo "$(bench_cpu_ticks "$rgw") $(bench_cpu_ticks "$osd") $(bench_cpu_ticks "$beam")"; }
curl_ticks=(0 0 0)
# curl_timed VAR PARALLEL METHOD COPIES: curl_phase's seconds into VAR; the servers' ticks meanwhile to curl_ticks.
curl_timed() {
  local a b r i
  read -r -a a <<<"$(server_ticks)"
  r=$(curl_phase "$2" "$3" "$4")
  read -r -a b <<<"$(server_ticks)"
  for i in 0 1 2; do curl_ticks[i]=$(( curl_ticks[i] + b[i] - a[i] )); done
  printf -v "$1" '%s' "$r"
}

# ---- producer alone vs PUT, consumer alone vs GET, each right after its baseline (the load drifts) ----
tag_e2e=$tag
bench_topology "$tag-a"
mkdir -p "$work/empty"
"$bin" produce "${TOPO[@]}" --dir "$work/empty" --recipients "$(IFS=,; echo "${recipients[*]}")" \
  --log-level warn >/dev/null 2>&1 || true  # declares the topology (quorum queues take a while), sends nothing
curl_timed b_put "$conc" PUT 1
t0=$(bench_now); producer "bench-$tag/alone"; t_p=$(bench_secs "$t0" "$(bench_now)")
curl_timed b_get1 "$conc" GET 1
t0=$(bench_now); consumer r1; t_c=$(bench_secs "$t0" "$(bench_now)")
echo "claimcheck alone: producer ${t_p} s, consumer ${t_c} s"
curl_timed b_getr "$((nrec * conc))" GET "$nrec"
curl_timed b_del "$conc" DELETE 1
b_e2e=$(awk -v a="$b_put" -v b="$b_getr" -v c="$b_del" 'BEGIN { printf "%.3f", a + b + c }')
echo "curl: PUT ${b_put} s, GET x1 ${b_get1} s, GET x$nrec ${b_getr} s, DELETE ${b_del} s (parallel $conc / $((nrec * conc)))"
bench_topology "$tag_e2e"

# ---- claimcheck end to end ----
pre="bench-$tag/e2e"
/usr/bin/time -f "$TIMEFMT" -o "$work/time.coordinator" "$bin" coordinator "${TOPO[@]}" --db "sqlite:$work/coord.db" \
  --key-prefix "$pre" --lifecycle-days 0 --no-orphan-sweep --producer-users "$user" --recipient-users "*=$user" \
  --log-level warn >"$work/log.coordinator" 2>&1 &
coord=$!; pids+=("$coord")
cpids=()
for r in "${recipients[@]}"; do consumer "$r" & cpids+=($!); pids+=($!); done
wait_consumers "${recipients[@]/#/q.$tag.}" "q.$tag.ack"
t0=$(bench_now)
read -r -a c0 <<<"$(server_ticks)"
producer "$pre"
t_prod=$(bench_now)
for p in "${cpids[@]}"; do wait "$p" || { echo "bench: a consumer failed:"; tail -5 "$work"/log.r*; exit 1; }; done
t_cons=$(bench_now)
until_prefix_empty "$pre/"
t1=$(bench_now)
read -r -a c1 <<<"$(server_ticks)"
kill -TERM "$(pgrep -P "$coord")" 2>/dev/null || true
wait "$coord" || true
e2e=$(bench_secs "$t0" "$t1")
echo "claimcheck end to end: ${e2e} s (producer done at $(bench_secs "$t0" "$t_prod") s, consumers at" \
     "$(bench_secs "$t0" "$t_cons") s, last delete at ${e2e} s)"
# CPU per payload (ms): ours from /usr/bin/time, the servers' from their tick deltas (100 ticks/s).
tck=$(getconf CLK_TCK)
cpu_line() {  # cpu_line LABEL before[] after[] ourfiles...
  awk -v n="$files" -v t="$tck" -v l="$1" -v r0="$2" -v r1="$3" -v o0="$4" -v o1="$5" -v b0="$6" -v b1="$7" -v ours="$8" 'BEGIN {
    printf "%s CPU ms per payload: %s radosgw %.1f, ceph-osd %.1f, rabbitmq %.1f\n", l, ours,
      (r1 - r0) * 1000 / t / n, (o1 - o0) * 1000 / t / n, (b1 - b0) * 1000 / t / n }'
}
ours=""
for p in producer "${recipients[@]}" coordinator; do
  ours+="$p $(awk -v s="$(bench_time_cpu "$work/time.$p")" -v n="$files" 'BEGIN { printf "%.1f", s * 1000 / n }'), "
done
cpu_line "claimcheck end to end" "${c0[0]}" "${c1[0]}" "${c0[1]}" "${c1[1]}" "${c0[2]}" "${c1[2]}" "$ours"
cpu_line "curl (all phases)    " 0 "${curl_ticks[0]}" 0 "${curl_ticks[1]}" 0 "${curl_ticks[2]}" ""
echo "peak RSS MiB: producer $(bench_time_rss_mib "$work/time.producer"), consumer $(bench_time_rss_mib "$work/time.r1"), coordinator $(bench_time_rss_mib "$work/time.coordinator")"
grep -h -i -E 'error|warn' "$work"/log.* | head -5 || true

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }
bench_row "end to end $files x 1 MiB, $nrec recipients (payloads/s)" "$(rate "$files" "$e2e")" "$(rate "$files" "$b_e2e")" \
  "payloads/s" "ratio>=0.9"
bench_row "producer alone $files x 1 MiB -> $nrec recipients (MiB/s)" "$(rate "$files" "$t_p")" "$(rate "$files" "$b_put")" \
  "MiB/s" "ratio>=0.9"
bench_row "consumer alone $files x 1 MiB (MiB/s)" "$(rate "$files" "$t_c")" "$(rate "$files" "$b_get1")" "MiB/s" "ratio>=0.9"
