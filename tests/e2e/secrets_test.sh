#!/usr/bin/env bash
# Secrets never reach logs, errors, metrics or --help (issue 12 item 2, DESIGN.md §9), with the real `claimcheck`
# binary on the local servers of `make up TLS=1`. Known secrets: the S3 secret key, the AMQP password, the
# PostgreSQL password of the role claimcheck_tls (PostgreSQL admits it over TLS with that password only, so the
# password is really used), plus deliberately wrong ones for the error paths. Every command runs at
# --log-level trace with the secrets in its environment and its flags:
#  a. --help of claimcheck and of produce, consume, coordinator, status;
#  b. a coordinator (PostgreSQL DSN with the password in it, --http-addr), a producer, a consumer, status (counts,
#     --json, one pointer); /metrics, /api/status and / of the coordinator are scraped;
#  c. errors: a wrong AMQP password, a wrong S3 secret, a wrong PostgreSQL password (each exits 3);
# then no output, log line, error, page or metric holds any of the secrets. Needs `make up TLS=1`; fails, never
# skips, without it. Cleans up its processes (by pid), queues, exchanges, objects and schema. ~10 s.
# Usage: secrets_test.sh REPO_ROOT CLAIMCHECK_BINARY
set -euo pipefail
# shellcheck source=tests/support/e2e_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/e2e_lib.sh"
e2e_start "$@"
e2e_require curl jq python3 psql
e2e_load_env CLAIMCHECK_PG_DSN_TLS
e2e_need_env "make up TLS=1" AMQP_URL S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET RABBITMQ_MGMT_URL \
  CLAIMCHECK_CA_FILE CLAIMCHECK_PG_DSN_TLS CLAIMCHECK_PG_TLS_PASSWORD

u="sec$(date +%s)$$"
e2e_topology "$u"
admin=$(amqp_user)
amqp_pw=$(amqp_password)
[ -n "$amqp_pw" ] && [ "$amqp_pw" != "$AMQP_URL" ] || fail "AMQP_URL has no password"
s3_secret=$S3_SECRET_KEY pg_pw=$CLAIMCHECK_PG_TLS_PASSWORD
# Wrong secrets for the error paths: known values that must not be echoed either.
bad_amqp="WrongAmqpPw-$u" bad_s3="WrongS3Secret-$u" bad_pg="WrongPgPw-$u"
secrets=("$amqp_pw" "$s3_secret" "$pg_pw" "$bad_amqp" "$bad_s3" "$bad_pg")
for s in "${secrets[@]}"; do [ ${#s} -ge 12 ] || fail "a secret is too short to search for reliably"; done
# The DSN with the password in it (the worst place an operator can put it).
db=$(sed -E "s#^postgresql://([^@/]+)@#postgresql://\\1:$pg_pw@#" <<<"$CLAIMCHECK_PG_DSN_TLS")"&schema=$u"
tmp=$(mktemp -d)
out="$tmp/out"; mkdir -p "$out"
coord_pid=""
cleanup() {
  local rc=$?
  if [ -n "$coord_pid" ]; then kill -TERM "$coord_pid" 2>/dev/null || true; wait "$coord_pid" 2>/dev/null || true; fi
  rmq_delete_topology "$u" r1
  s3_delete_prefix "$u/"
  PGPASSWORD=$pg_pw psql "$CLAIMCHECK_PG_DSN_TLS" -qc "DROP SCHEMA IF EXISTS \"$u\" CASCADE" >/dev/null 2>&1 || true
  [ "$rc" = 0 ] || e2e_tails 5 "$out"/*
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

# Every secret is in the programs' environment; the DSN also on the coordinator's command line.
export CLAIMCHECK_LOG_LEVEL=trace CLAIMCHECK_DB="$db" PGPASSWORD="$pg_pw"
run() { # run NAME CMD...: stdout+stderr of CMD into $out/NAME; prints the exit code
  local name=$1 rc=0; shift
  timeout 60 "$@" >"$out/$name" 2>&1 || rc=$?
  echo "$rc"
}
expect_rc() { # expect_rc WANT NAME CMD...
  local want=$1 name=$2 rc; shift 2
  rc=$(run "$name" "$@")
  [ "$rc" = "$want" ] || fail "$name: exit $rc, want $want: $(tail -n 3 "$out/$name")"
}

# ---------------------------------------------------------------- a. --help
expect_rc 0 help "$bin" --help
for c in produce consume coordinator status; do expect_rc 0 "help-$c" "$bin" "$c" --help; done
grep -q -- "--amqp-ca" "$out/help-consume" || fail "consume --help lacks --amqp-ca"

# ---------------------------------------------------------------- b. the flow at trace level
port=$(free_port)
base="http://127.0.0.1:$port"
"$bin" coordinator --db "$db" --http-addr "127.0.0.1:$port" "${topo[@]}" --key-prefix "$u" --lifecycle-days 0 \
  --no-orphan-sweep --sweep-interval 1s --status-interval 1s --producer-users "$admin" --recipient-users "*=$admin" \
  >"$out/coordinator" 2>&1 &
coord_pid=$!
e2e_wait_healthy "$coord_pid" "$base" || true  # if it is not, the flow below fails
n=3
expect_rc 0 produce "$bin" produce --msg-size 3KB --count "$n" --recipients r1 "${topo[@]}" --key-prefix "$u" --ttl 1h \
  --s3-secret-key "$s3_secret"
expect_rc 0 consume "$bin" consume --recipient r1 --allowed-producers "$admin" --max-messages "$n" --idle-exit 20 \
  "${topo[@]}" --state-dir "$tmp/state" --out-dir "$tmp/files"
for ((i = 0; i < 100; i++)); do
  curl -sf --max-time 5 "$base/api/status" | jq -e --argjson n "$n" '.counts.DELETED == $n' >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf --max-time 5 "$base/api/status" >"$out/api-status" || fail "GET /api/status failed"
curl -sf --max-time 5 "$base/metrics" >"$out/metrics" || fail "GET /metrics failed"
curl -sf --max-time 5 "$base/" >"$out/page" || fail "GET / failed"
jq -e --argjson n "$n" '.counts.DELETED == $n' "$out/api-status" >/dev/null ||
  fail "the flow did not delete its $n objects: $(jq -c .counts "$out/api-status")"
grep -q '^claimcheck_' "$out/metrics" || fail "/metrics has no claimcheck_ metric"
expect_rc 0 status "$bin" status --db "$db"
expect_rc 0 status-json "$bin" status --json
pid1=$(grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' "$out/produce" | head -n 1) ||
  fail "no pointer id in the producer's log"
expect_rc 0 status-one "$bin" status "$pid1" --json
grep -q "$pid1" "$out/status-one" || fail "status $pid1 does not show it"
kill -TERM "$coord_pid"; rc=0; wait "$coord_pid" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 130 ] || fail "the coordinator did not stop cleanly (exit $rc)"
coord_pid=""

# ---------------------------------------------------------------- c. errors with wrong secrets: exit 3
bad_url=$(sed -E "s#^(amqps?://[^:@/]*):[^@/]*@#\\1:$bad_amqp@#" <<<"${AMQP_URL%%,*}")
expect_rc 3 err-amqp env AMQP_URL="$bad_url" "$bin" consume --recipient r1 --allowed-producers "$admin" \
  --max-messages 1 --idle-exit 2 "${topo[@]}" --state-dir "$tmp/state"
expect_rc 3 err-s3 env S3_SECRET_KEY="$bad_s3" "$bin" produce --msg-size 1KB --count 1 --recipients r1 "${topo[@]}" \
  --key-prefix "$u" --ttl 1h
expect_rc 3 err-pg "$bin" status --db "${db/:$pg_pw@/:$bad_pg@}"
grep -qi "password authentication failed" "$out/err-pg" || fail "err-pg does not say why: $(tail -n 2 "$out/err-pg")"

# ---------------------------------------------------------------- the check
# trace is the most verbose level: it shows every debug line (S3 requests, AMQP frames, SQL batches) too.
traces=$(cat "$out/coordinator" "$out/produce" "$out/consume" | grep -cE '^[0-9T:.-]+ (trace|debug) ' || true)
[ "$traces" -ge 10 ] || fail "only $traces trace/debug lines: the programs did not log at trace level"
leaks=0
for f in "$out"/*; do
  for s in "${secrets[@]}"; do
    if grep -qF -- "$s" "$f"; then
      leaks=$((leaks + 1))
      echo "secrets_test: $(basename "$f") holds a secret (${#s} chars) on line $(grep -nF -- "$s" "$f" | head -n1 | cut -d: -f1)" >&2
    fi
  done
done
[ "$leaks" = 0 ] || fail "$leaks (file, secret) pairs leak"
note "$(ls "$out" | wc -l) outputs ($(cat "$out"/* | wc -l) lines, $traces trace/debug lines) hold none of ${#secrets[@]} secrets"
note "OK in $(( $(date +%s) - t_start )) s"
