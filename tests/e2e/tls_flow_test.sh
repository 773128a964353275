#!/usr/bin/env bash
# End-to-end test of TLS end to end (issue 12 item 1, DESIGN.md §9) with the real `claimcheck` binary on the local
# servers of `make up TLS=1`: every connection is amqps://, https:// or PostgreSQL sslmode=verify-full, verified
# against the local CA given by the flags (--amqp-ca, --s3-ca-bundle, the DSN's sslrootcert; CLAIMCHECK_CA_FILE is
# unset for the programs).
#  a. a coordinator on PostgreSQL (role claimcheck_tls: the server admits it over TLS with its password only), a
#     producer sending a directory to two recipients, two consumers downloading through the presigned https urls;
#     every object is reproduced and then deleted; the broker lists the programs' connections as TLS ones;
#  b. a wrong CA and a wrong host name fail clearly with exit 3, for AMQP, S3 and PostgreSQL.
# Needs `make up TLS=1` (AMQPS_URL, S3_ENDPOINT_TLS, CLAIMCHECK_PG_DSN_TLS, CLAIMCHECK_PG_TLS_PASSWORD,
# CLAIMCHECK_CA_FILE, S3_*, RABBITMQ_MGMT_URL in .local/env); fails, never skips, without them. Cleans up its
# processes (by pid), queues, exchanges, objects and database schema. ~15 s.
# Usage: tls_flow_test.sh REPO_ROOT CLAIMCHECK_BINARY
set -euo pipefail
# shellcheck source=tests/support/e2e_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/e2e_lib.sh"
e2e_start "$@"
t_start=$(date +%s.%N)  # this test reports seconds with two decimals
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}'; }

e2e_require curl jq python3 openssl psql
e2e_load_env AMQPS_URL
e2e_need_env "make up TLS=1" AMQP_URL AMQPS_URL S3_ENDPOINT S3_ENDPOINT_TLS S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET \
  RABBITMQ_MGMT_URL CLAIMCHECK_CA_FILE CLAIMCHECK_PG_DSN_TLS CLAIMCHECK_PG_TLS_PASSWORD
ca=$CLAIMCHECK_CA_FILE
[ -s "$ca" ] || fail "CLAIMCHECK_CA_FILE $ca is missing"

u="tls$(date +%s)$$"
e2e_topology "$u"
admin=$(AMQP_URL=$AMQPS_URL amqp_user)
plain_s3=$S3_ENDPOINT
amqps_port=$(sed -E 's#^.*@[^:/]+:([0-9]+)/.*$#\1#' <<<"$AMQPS_URL")
s3_tls_port=$(sed -E 's#^https://[^:/]+:([0-9]+).*$#\1#' <<<"$S3_ENDPOINT_TLS")
db="$CLAIMCHECK_PG_DSN_TLS&schema=$u"
tmp=$(mktemp -d)
pids=()
cleanup() {
  local rc=$? p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rmq_delete_topology "$u" r1 r2
  S3_ENDPOINT=$plain_s3 s3_delete_prefix "$u/"  # objects of a failed run (after a clean one there are none)
  PGPASSWORD=$CLAIMCHECK_PG_TLS_PASSWORD psql "$CLAIMCHECK_PG_DSN_TLS" -qc "DROP SCHEMA IF EXISTS \"$u\" CASCADE" \
    >/dev/null 2>&1 || true
  [ "$rc" = 0 ] || e2e_tails 20 "$tmp"/*.log
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

# The programs get TLS settings only: no plain URL, no CA from the environment (the flags must do it).
unset CLAIMCHECK_CA_FILE AMQP_CA_FILE S3_CA_BUNDLE MINIO_ENDPOINT CLAIMCHECK_DB
export AMQP_URL=$AMQPS_URL S3_ENDPOINT=$S3_ENDPOINT_TLS PGPASSWORD=$CLAIMCHECK_PG_TLS_PASSWORD
tls=(--amqp-ca "$ca" --s3-ca-bundle "$ca")

port=$(free_port)
base="http://127.0.0.1:$port"
api() { curl -sf --max-time 5 "$base/api/status"; }

# ---------------------------------------------------------------- a. the flow over TLS
t0=$(date +%s.%N)
"$bin" coordinator --db "$db" --http-addr "127.0.0.1:$port" "${topo[@]}" "${tls[@]}" --key-prefix "$u" \
  --lifecycle-days 0 --no-orphan-sweep --sweep-interval 1s --status-interval 1s --batch-delay 10ms \
  --producer-users "$admin" --recipient-users "*=$admin" --amqp-connection-name "tls-coordinator-$u" \
  >"$tmp/coordinator.log" 2>&1 &
coord_pid=$!; pids+=("$coord_pid")
e2e_wait_healthy "$coord_pid" "$base" || fail "the coordinator is not connected after 15 s: $(api)"
note "coordinator up over amqps + PostgreSQL verify-full in $(since "$t0") s"

# The broker lists the coordinator's connection (after its stats interval) as a TLS one on the amqps port.
for ((i = 0; i < 100; i++)); do
  conns=$(rmq_api "connections?columns=name,ssl,port,ssl_protocol,client_properties.connection_name" --max-time 5 |
    jq -c --arg c "tls-coordinator-$u" '[.[] | select(.client_properties.connection_name == $c)]') || true
  [ "${conns:-[]}" != "[]" ] && break
  sleep 0.1
done
jq -e --arg p "$amqps_port" 'length == 1 and all(.[]; .ssl and (.port | tostring) == $p)' <<<"${conns:-[]}" >/dev/null ||
  fail "the broker does not list the coordinator's connection as a TLS one on port $amqps_port: $conns"
proto=$(jq -r '.[0].ssl_protocol' <<<"$conns")

in="$tmp/in"
mkdir -p "$in/sub dir"
head -c $((9 * 1024 * 1024 + 5)) /dev/urandom >"$in/big.bin"   # > --s3-part-size 8MiB: multipart over https
head -c 70000 /dev/urandom >"$in/sub dir/mid.dat"
printf 'hello over tls\n' >"$in/small.txt"
n=3
t0=$(date +%s.%N)
"$bin" produce --dir "$in" --recipients r1,r2 "${topo[@]}" "${tls[@]}" --key-prefix "$u" --ttl 1h \
  >"$tmp/produce.log" 2>&1 || fail "produce over TLS failed"
grep -q "$n published" "$tmp/produce.log" || fail "produce did not publish $n: $(tail -n 3 "$tmp/produce.log")"
t_prod=$(since "$t0")
t0=$(date +%s.%N)
for r in r1 r2; do
  "$bin" consume --recipient "$r" --allowed-producers "$admin" --out-dir "$tmp/out-$r" --max-messages "$n" \
    --idle-exit 30 "${topo[@]}" "${tls[@]}" --state-dir "$tmp/state-$r" --amqp-connection-name "tls-$r-$u" >"$tmp/consume-$r.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]:1}"; do wait "$p" || fail "a consumer over TLS failed (exit $?)"; done
pids=("$coord_pid")
t_cons=$(since "$t0")
for r in r1 r2; do
  grep -q "$n processed" "$tmp/consume-$r.log" || fail "$r did not process $n: $(tail -n 3 "$tmp/consume-$r.log")"
  grep -q "connected to amqps://" "$tmp/consume-$r.log" || fail "$r did not connect over amqps"
  diff -r "$in" "$tmp/out-$r" >&2 || fail "$r's output differs from the input"
done
t0=$(date +%s.%N)
for ((i = 0; i < 150; i++)); do
  j=$(api) || fail "GET /api/status failed"
  jq -e --argjson n "$n" '.counts.DELETED == $n and .not_deleted == 0' <<<"$j" >/dev/null && break
  sleep 0.1
done
jq -e --argjson n "$n" '.counts.DELETED == $n and .not_deleted == 0' <<<"$j" >/dev/null ||
  fail "not every object was deleted: $(jq -c .counts <<<"$j")"
t_del=$(since "$t0")
# Nothing left under the prefix (ListObjectsV2 over https, verified against the CA).
left=$(s3_curl_config | curl -sS -K - --cacert "$ca" --max-time 10 "$S3_ENDPOINT_TLS/$S3_BUCKET?list-type=2&prefix=$u%2F" |
  grep -oc '<Key>' || true)
[ "$left" = 0 ] || fail "$left objects are left under $u/ after the coordinator deleted them"
note "flow over TLS ($proto): produce $n files (9 MiB multipart + 2) ${t_prod} s, 2 consumers ${t_cons} s, all deleted ${t_del} s after"

# ---------------------------------------------------------------- b. wrong CA, wrong host name: exit 3, clearly
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=some other CA" \
  -keyout "$tmp/other-ca.key" -out "$tmp/other-ca.crt" >/dev/null 2>&1 || fail "openssl could not make a second CA"
other="$tmp/other-ca.crt"
# ::ffff:127.0.0.1 reaches the servers' 127.0.0.1 listeners, but is not a name the certificate holds.
wrong_host="[::ffff:127.0.0.1]"
# expect_exit3 NAME PATTERN CMD...: CMD exits 3 within 30 s and its stderr matches PATTERN (grep -E -i).
expect_exit3() {
  local name=$1 pat=$2 rc=0 t; shift 2
  t=$(date +%s.%N)
  timeout 30 "$@" >"$tmp/$name.log" 2>&1 || rc=$?
  [ "$rc" = 3 ] || fail "$name: exit $rc, want 3: $(tail -n 3 "$tmp/$name.log")"
  grep -Eiq "$pat" "$tmp/$name.log" || fail "$name: the error does not say '$pat': $(tail -n 3 "$tmp/$name.log")"
  note "$name: exit 3 in $(since "$t") s: $(grep -Ei "$pat" "$tmp/$name.log" | tail -n 1 | cut -c1-300)"
}
consume_once=(consume --recipient r1 --allowed-producers "$admin" --max-messages 1 --idle-exit 5 "${topo[@]}"
              --state-dir "$tmp/state-x")
expect_exit3 amqp-wrong-ca "TLS certificate was not accepted: self-signed certificate in certificate chain" \
  "$bin" "${consume_once[@]}" --amqp-ca "$other" --s3-ca-bundle "$ca"
expect_exit3 amqp-wrong-host "TLS certificate was not accepted: IP address mismatch" \
  env AMQP_URL="$(sed -E "s#@[^:/]+:#@$wrong_host:#" <<<"$AMQPS_URL")" "$bin" "${consume_once[@]}" "${tls[@]}"
produce_one=(produce --msg-size 1KB --count 1 --recipients r1 "${topo[@]}" --key-prefix "$u" --ttl 1h)
expect_exit3 s3-wrong-ca "unable to get local issuer certificate.*TLS certificate was not accepted" \
  "$bin" "${produce_one[@]}" --amqp-ca "$ca" --s3-ca-bundle "$other"
expect_exit3 s3-wrong-host "no alternative certificate subject name matches.*TLS certificate was not accepted" \
  "$bin" "${produce_one[@]}" "${tls[@]}" --s3-endpoint "https://$wrong_host:$s3_tls_port"
expect_exit3 pg-wrong-ca "certificate verify failed" \
  "$bin" status --db "${db/sslrootcert=$ca/sslrootcert=$other}"
expect_exit3 pg-wrong-host "does not match host name|host name" \
  "$bin" status --db "$(sed -E "s#@localhost:#@wrong-host.invalid:#; s#\\?#?hostaddr=127.0.0.1\\&#" <<<"$db")"
note "OK in $(since "$t_start") s"
