#!/usr/bin/env bash
# e2e, issue 8 acceptance: 300 payloads to 3 recipients whose consumers run `--exec` (appending one line per
# run to a log) while each consumer is SIGKILLed every 0.3 s and restarted. Afterwards every recipient's
# output is byte-identical to the input, each exec log has exactly one line per pointer, the dead-letter
# queue is empty, no temporary or staged file is left, and the coordinator deleted every object once.
#
# Needs the local servers (`make up`; settings in the environment as `make test` loads them from .local/env)
# and the built CLI. Runs as the administrator user in its own AMQP namespace and key prefix.
# Environment: STORM_FILES (300), STORM_KILL_EVERY (0.3 seconds), STORM_BUDGET (240 seconds).
set -euo pipefail
# shellcheck source=tests/support/e2e_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/e2e_lib.sh"
e2e_start "$@"
: "${AMQP_URL:?AMQP_URL is not set: run make up and load .local/env}" "${RABBITMQ_MGMT_URL:?}" "${S3_BUCKET:?}"
files=${STORM_FILES:-300}
every=${STORM_KILL_EVERY:-0.3}
budget=${STORM_BUDGET:-240}
recipients=(a b c)
tag="storm$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
work=$(mktemp -d "/tmp/claimcheck-$tag.XXXX")
e2e_topology "$tag"  # rmq_delete_topology "$tag" ... cleans up
user=$(amqp_user)
declare -A cpid=()
coord=""

fail() { echo "FAIL: $*"; echo "logs kept in $work/log"; keep=1; exit 1; }  # instead of e2e_lib.sh's: keeps the logs
keep=0
cleanup() {
  set +e
  for r in "${recipients[@]}"; do [ -n "${cpid[$r]:-}" ] && kill -KILL "${cpid[$r]}" 2>/dev/null; done
  [ -n "$coord" ] && kill -TERM "$coord" 2>/dev/null && wait "$coord" 2>/dev/null
  rmq_delete_topology "$tag" "${recipients[@]}"
  [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/in" "$work/log" "$work/out" "$work/state"

# Input: incompressible files of 1..96 KiB in a few directories (every one is offloaded to S3).
for i in $(seq 1 "$files"); do
  d="$work/in/d$((i % 7))"; mkdir -p "$d"
  head -c $(( (RANDOM % 96 + 1) * 1024 - RANDOM % 500 )) /dev/urandom >"$d/f$i.bin"
done

"$bin" coordinator "${topo[@]}" --db "sqlite:$work/coord.db" --key-prefix "test-$tag" --lifecycle-days 0 \
  --producer-users "$user" --recipient-users "*=$user" --sweep-interval 5s >"$work/log/coordinator.log" 2>&1 &
coord=$!

start_consumer() { # start_consumer R: a consumer of R whose handler appends "<pointer_id> <name>" to exec-R.log
  local r=$1
  # shellcheck disable=SC2016 # expanded by the handler's shell
  "$bin" consume "${topo[@]}" --recipient "$r" --out-dir "$work/out/$r" --state-dir "$work/state/$r" \
    --allowed-producers "$user" --prefetch 16 \
    --exec 'test -s "$CLAIMCHECK_FILE" || test "$CLAIMCHECK_SIZE_RAW" = 0; echo "$CLAIMCHECK_POINTER_ID $CLAIMCHECK_NAME" >>"$EXEC_LOG"' \
    >>"$work/log/consumer-$r.log" 2>&1 &
  cpid[$r]=$!
}
export EXEC_LOG
for r in "${recipients[@]}"; do EXEC_LOG="$work/exec-$r.log" start_consumer "$r"; done
sleep 1
kill -0 "$coord" 2>/dev/null || fail "the coordinator exited at start: $(tail -5 "$work/log/coordinator.log")"

# The storm: every $every seconds each consumer is SIGKILLed and started again, until $work/calm exists.
(
  kills=0
  while [ ! -e "$work/calm" ]; do
    sleep "$every"
    for r in "${recipients[@]}"; do
      pid=$(cat "$work/pid-$r" 2>/dev/null || echo "")
      [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
      EXEC_LOG="$work/exec-$r.log" start_consumer "$r"
      echo "${cpid[$r]}" >"$work/pid-$r"
    done
  done
  for r in "${recipients[@]}"; do kill -KILL "$(cat "$work/pid-$r")" 2>/dev/null; done
  echo "$kills" >"$work/kills"
) 2>>"$work/log/storm.log" &
storm=$!
for r in "${recipients[@]}"; do echo "${cpid[$r]}" >"$work/pid-$r"; done
cpid=()  # from here on the storm owns the consumers

t0=$(date +%s)
"$bin" produce "${topo[@]}" --dir "$work/in" --recipients a,b,c --key-prefix "test-$tag" --concurrency 4 \
  >"$work/log/produce.log" 2>&1 || fail "produce exited $?: $(tail -5 "$work/log/produce.log")"
echo "produced $files files in $(( $(date +%s) - t0 )) s; storm goes on until every exec log has $files lines"
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
while :; do
  done_all=1
  for r in "${recipients[@]}"; do [ "$(sort -u "$work/exec-$r.log" 2>/dev/null | wc -l)" -ge "$files" ] || done_all=0; done
  [ "$done_all" = 1 ] && break
  [ $(( $(date +%s) - t0 )) -lt "$budget" ] || { touch "$work/calm"; wait "$storm"; fail "not every payload was handled within ${budget}s"; }
  sleep 1
done
touch "$work/calm"; wait "$storm"
echo "storm over after $(( $(date +%s) - t0 )) s: $(cat "$work/kills") consumer kills"

# Calm: one consumer per recipient settles what the storm left unacked (redeliveries: journal, receipts).
for r in "${recipients[@]}"; do
  EXEC_LOG="$work/exec-$r.log" "$bin" consume "${topo[@]}" --recipient "$r" --out-dir "$work/out/$r" \
    --state-dir "$work/state/$r" --allowed-producers "$user" --idle-exit 3 \
    --exec 'echo "$CLAIMCHECK_POINTER_ID $CLAIMCHECK_NAME" >>"$EXEC_LOG"' >>"$work/log/consumer-$r.log" 2>&1 \
    || fail "the calm consumer of $r exited $?"
done

for r in "${recipients[@]}"; do
  diff -r -x .claimcheck-staging "$work/in" "$work/out/$r" >"$work/log/diff-$r" || fail "output of $r differs from the input: $(head -5 "$work/log/diff-$r")"
  n=$(lines "$work/exec-$r.log"); u=$(cut -d' ' -f1 "$work/exec-$r.log" | sort -u | wc -l)
  [ "$n" -eq "$files" ] && [ "$u" -eq "$files" ] || fail "exec log of $r has $n lines for $u pointers (want $files, once each)"
  left=$(find "$work/out/$r" "$work/state/$r" -type f \( -path '*/.claimcheck-staging/*' -o -name '*.part' -o -name '*.tmp*' \) | wc -l)
  [ "$left" -eq 0 ] || fail "$left temporary files left for $r: $(find "$work/out/$r" "$work/state/$r" -type f \( -path '*/.claimcheck-staging/*' -o -name '*.part' -o -name '*.tmp*' \) | head -3)"
done
dead=$(rmq_api "queues/%2F/q.$tag.dead" -fS | jq -r '.messages // 0')
[ "$dead" = 0 ] || fail "q.$tag.dead holds $dead messages"
# The coordinator deletes every object once every recipient acked it.
for _ in $(seq 1 60); do
  deleted=$(CLAIMCHECK_DB="sqlite:$work/coord.db" "$bin" status --json | jq -r '.counts.DELETED')
  [ "$deleted" = "$files" ] && break
  sleep 1
done
[ "$deleted" = "$files" ] || fail "the coordinator deleted $deleted of $files objects"
echo "runs taken from a receipt (the consumer died between the command's exit and its journal record): $(cat "$work"/log/consumer-*.log | grep -c "already ran before a restart")"
echo "PASS: $files payloads x ${#recipients[@]} recipients through $(cat "$work/kills") consumer kills: outputs identical, one exec line per pointer per recipient, q.dead empty, no temporary file, $deleted objects deleted"
