#!/usr/bin/env bash
# Broker memory with N payloads in flight (published, nobody consuming), offloaded (claimcheck's default: a
# pointer per recipient and a store record in RabbitMQ, the payload in S3) vs inline (`--inline-threshold`
# above the payload size: the payload itself in RabbitMQ) — issue 11 item 1, target offloaded <= 1 % of inline.
# The figure is the growth of the node's Erlang memory (management API /api/nodes/NODE/memory, total.erlang)
# over a baseline read just before, one recipient; the queues' message_bytes are printed beside it. A try whose
# growth is implausible (below zero, or inline below a quarter of the message bytes: the node collected garbage
# of earlier work meanwhile) is repeated, at most three tries. The issue's 10,000 x 1 MiB does not fit this machine (the Ceph OSD is a
# 4-8 GiB memstore, inline needs 10 GiB of broker memory): N is an argument and is printed. Everything is
# deleted afterwards (queues, exchanges, objects).
# Usage: bench/broker_memory.sh [N=1000] [SIZE_KIB=1024]   (env CLAIMCHECK_BINARY, servers from .local/env)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
n=${1:-1000}
kib=${2:-1024}
tag=$(bench_tag bmem)
work=$(mktemp -d)
cleanup() { rmq_delete_topology "$tag" r; s3_delete_prefix "bench-$tag"; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/in"
for i in $(seq 1 "$n"); do head -c "$((kib * 1024))" /dev/urandom >"$work/in/f$i.bin"; done
bench_topology "$tag"
node=$(rmq_api nodes | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["name"])')

# mem_used: the node's Erlang memory (total.erlang of the live breakdown /api/nodes/NODE/memory, computed on
# request, not from the 5 s stats cache), once it is steady: read every second until two reads in a row differ
# by less than 1 MiB (at most 40 s), so garbage of earlier benchmarks being collected does not count.
mem_used() {
  local last now i
  last=$(node_erlang)
  for i in $(seq 1 40); do
    sleep 1
    now=$(node_erlang)
    [ $(( now > last ? now - last : last - now )) -lt 1048576 ] && break
    last=$now
  done
  echo "$now"
}
node_erlang() {
  rmq_api "nodes/$node/memory" | python3 -c 'import json, sys; print(json.load(sys.stdin)["memory"]["total"]["erlang"])'
}
queue_bytes() {  # message_bytes of our queues (pointers + store records)
  rmq_api "queues/%2F?name=q.$tag." | python3 -c 'import json, sys
print(sum(q.get("message_bytes") or 0 for q in json.load(sys.stdin) if q["name"].startswith(sys.argv[1])))' "q.$tag."
}
# in_flight LABEL PRODUCE-ARGS...: publish N payloads to recipient r, then purge and delete; prints the growth of mem_used
# and the queues' message bytes (bytes; the growth may be negative when garbage of earlier work was collected).
in_flight() {
  local label=$1 m0 m1 qb; shift
  m0=$(mem_used)
  "$bin" produce "${TOPO[@]}" --dir "$work/in" --recipients r --key-prefix "bench-$tag" --ttl 1h --log-level warn \
    "$@" >"$work/log.$label" 2>&1 || { echo "bench: produce ($label) failed:" >&2; tail -3 "$work/log.$label" >&2; return 1; }
  sleep 6  # queue stats are refreshed every 5 s
  m1=$(mem_used); qb=$(queue_bytes)
  echo "$label: broker memory $(( m0 / 1048576 )) -> $(( m1 / 1048576 )) MiB: +$(( (m1 - m0) / 1024 )) KiB, message_bytes of the queues $(( qb / 1024 )) KiB" >&2
  rmq_api "queues/%2F/q.$tag.r/contents" -o /dev/null -X DELETE
  rmq_api "queues/%2F/q.$tag.ack/contents" -o /dev/null -X DELETE
  s3_delete_prefix "bench-$tag"  # the offloaded objects (the memstore OSD is small)
  echo "$(( m1 - m0 )) $qb"
}
# measured LABEL FRACTION PRODUCE-ARGS...: in_flight until the growth is at least FRACTION x the queues' message
# bytes (a collection of earlier garbage during the run shrinks the node and hides the growth), at most 3 tries;
# prints the growth.
measured() {
  local label=$1 frac=$2 try g qb; shift 2
  for try in 1 2 3; do
    read -r g qb <<<"$(in_flight "$label" "$@")"
    awk -v g="$g" -v q="$qb" -v f="$frac" 'BEGIN { exit !(g >= q * f) }' && break
    echo "$label: try $try disturbed (growth below $frac x the message bytes)" >&2
  done
  echo $(( g > 0 ? g : 0 ))
}
off=$(measured offloaded 0)
inl=$(measured inline 0.25 --inline-threshold "$(( kib * 1024 + 1 ))")
echo "broker memory, $n x $kib KiB in flight to 1 recipient: offloaded +$((off / 1024)) KiB, inline +$((inl / 1024)) KiB"
bench_row "broker memory, $n x $kib KiB in flight, offloaded vs inline (MiB)" \
  "$(awk -v b="$off" 'BEGIN { printf "%.1f", b / 1048576 }')" "$(awk -v b="$inl" 'BEGIN { printf "%.1f", b / 1048576 }')" \
  "MiB" "ratio<=0.01"
