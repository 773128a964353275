#!/usr/bin/env bash
# Integration test of the monitoring files (deploy/grafana, deploy/prometheus) against real processes:
#  1. every JSON file under deploy/grafana parses (jq);
#  2. a coordinator started with --http-addr (free port, its own exchanges/queues), holding one payload
#     produced to a recipient that never acks (so the per-recipient gauges have a series), exports EVERY
#     claimcheck_* metric name used in the dashboards' queries;
#  3. RabbitMQ's prometheus plugin (RABBITMQ_PROMETHEUS_URL, /metrics/per-object) exports every rabbitmq_*
#     name used, with a per-queue series for the coordinator's queue;
#  4. a private Prometheus (config rendered from deploy/prometheus/prometheus.local.yml.in, 1 s scrapes,
#     free port, temp storage) scrapes both targets with up == 1, and every dashboard query, with the
#     Grafana variables filled in, is valid PromQL and returns at least one series.
# Needs `make up` (AMQP_URL, S3_*, RABBITMQ_PROMETHEUS_URL in the environment) and the prometheus package;
# fails, never skips, without them. Cleans up its processes (by pid), queues, exchanges and the object. ~10 s.
# Usage: grafana_metrics_test.sh REPO_ROOT CLAIMCHECK_BINARY
set -euo pipefail
# shellcheck source=tests/support/e2e_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/e2e_lib.sh"
e2e_start "$@"
e2e_require jq curl python3 prometheus promtool
e2e_load_env AMQP_URL
e2e_need_env "make up" AMQP_URL S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET RABBITMQ_PROMETHEUS_URL RABBITMQ_MGMT_URL

# ---------------------------------------------------------------- 1. the JSON files parse
dashboards=()
while IFS= read -r -d '' f; do
  jq -e . "$f" >/dev/null || fail "$f is not valid JSON"
  if jq -e 'has("panels")' "$f" >/dev/null; then dashboards+=("$f"); fi
done < <(find "$root/deploy/grafana" -name '*.json' -print0)
[ ${#dashboards[@]} -gt 0 ] || fail "no dashboard JSON (with panels) under $root/deploy/grafana"
note "${#dashboards[@]} dashboard(s) parse: ${dashboards[*]#"$root/"}"

# Every query of every dashboard: panel targets' expr and query variables' definitions.
exprs_file=$(mktemp)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$exprs_file"' EXIT
for f in "${dashboards[@]}"; do
  jq -r '[.. | objects | select(has("expr")) | .expr] + [.templating.list[]? | select(.type == "query") | .definition] | .[]' "$f"
done | sort -u > "$exprs_file"
n_exprs=$(wc -l < "$exprs_file")
[ "$n_exprs" -gt 0 ] || fail "the dashboards contain no queries"
mapfile -t cc_names < <(grep -oE '\bclaimcheck_[A-Za-z0-9_]+' "$exprs_file" | sort -u)
mapfile -t rmq_names < <(grep -oE '\brabbitmq_[A-Za-z0-9_]+' "$exprs_file" | sort -u)
[ ${#cc_names[@]} -gt 0 ] || fail "the dashboards use no claimcheck_* metric"
note "$n_exprs queries use ${#cc_names[@]} claimcheck_* and ${#rmq_names[@]} rabbitmq_* metric names"

# ---------------------------------------------------------------- processes and cleanup
u="mon$(date +%s)$$"
ackq="q.$u.ack" deadq="q.$u.dead" recipient="$u-r1"
admin=$(amqp_user)
coord_pid="" prom_pid=""
cleanup() {
  local rc=$?
  if [ -n "$coord_pid" ]; then kill -TERM "$coord_pid" 2>/dev/null || true; wait "$coord_pid" 2>/dev/null || true; fi
  if [ -n "$prom_pid" ]; then kill -TERM "$prom_pid" 2>/dev/null || true; wait "$prom_pid" 2>/dev/null || true; fi
  rmq_delete_topology "$u" "$recipient"
  s3_delete_prefix "$u/"  # the payload nobody acks
  [ "$rc" = 0 ] || e2e_tails 20 "$tmp/coordinator.log" "$tmp/prometheus.log" "$tmp/produce.log"
  rm -rf "$tmp" "$exprs_file"
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------- 2. the coordinator exports every name
# exports_all FILE WHO NAME...: fails unless every NAME has a sample in the Prometheus text FILE (scraped from WHO).
exports_all() {
  local f=$1 who=$2 m missing=(); shift 2
  for m in "$@"; do grep -qE "^$m(\{| )" "$f" || missing+=("$m"); done
  [ ${#missing[@]} -eq 0 ] || fail "the dashboards use metrics $who does not export: ${missing[*]}"
}
cport=$(free_port)
e2e_topology "$u"  # its ack and dead-letter queues are $ackq and $deadq
topo+=(--key-prefix "$u")
"$bin" coordinator --db "sqlite:$tmp/refcount.db" --http-addr "127.0.0.1:$cport" "${topo[@]}" \
  --lifecycle-days 0 --no-orphan-sweep --sweep-interval 1h --status-interval 1s \
  --producer-users "$admin" >"$tmp/coordinator.log" 2>&1 &
coord_pid=$!
"$bin" produce --msg-size 1KB --count 1 --recipients "$recipient" --ttl 1h "${topo[@]}" >"$tmp/produce.log" 2>&1 ||
  fail "produce to $recipient failed"
# Ready once the status refresh shows the recipient's pending object.
for ((i = 0; i < 100; i++)); do
  curl -sf --max-time 2 "http://127.0.0.1:$cport/metrics" -o "$tmp/coordinator.prom" &&
    grep -qxF "claimcheck_recipient_pending_objects{recipient=\"$recipient\"} 1" "$tmp/coordinator.prom" && break
  kill -0 "$coord_pid" 2>/dev/null || fail "the coordinator exited while starting"
  sleep 0.1
done
grep -qxF "claimcheck_recipient_pending_objects{recipient=\"$recipient\"} 1" "$tmp/coordinator.prom" ||
  fail "no claimcheck_recipient_pending_objects 1 for $recipient at http://127.0.0.1:$cport/metrics after 10 s"
exports_all "$tmp/coordinator.prom" "the coordinator" "${cc_names[@]}"
note "coordinator on 127.0.0.1:$cport exports all ${#cc_names[@]} claimcheck_* names"

# ---------------------------------------------------------------- a private Prometheus for step 4,
# started now so that it collects samples while step 3 waits for RabbitMQ
rmq_url="${RABBITMQ_PROMETHEUS_URL%/}"
rmq_url="${rmq_url%/metrics}"
rmq_hostport=$(sed -E 's|^https?://([^/]+).*|\1|' <<<"$rmq_url")
pport=$(free_port)
sed -e "s|@SCRAPE_INTERVAL@|1s|g" -e "s|@COORDINATOR_TARGET@|127.0.0.1:$cport|g" \
    -e "s|@RABBITMQ_TARGET@|$rmq_hostport|g" "$root/deploy/prometheus/prometheus.local.yml.in" > "$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml" >/dev/null 2>&1 || fail "rendered prometheus.local.yml.in is invalid: $(promtool check config "$tmp/prometheus.yml" 2>&1 | tail -n 3)"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$tmp/prometheus.log" 2>&1 </dev/null &
prom_pid=$!
# ---------------------------------------------------------------- 3. RabbitMQ's per-object endpoint
# The plugin refreshes per-object values every collect_statistics_interval (5 s): wait for our queue.
for ((i = 0; i < 30; i++)); do
  curl -sf --max-time 5 "$rmq_url/metrics/per-object" -o "$tmp/rabbitmq.prom" || fail "cannot read $rmq_url/metrics/per-object"
  grep -qF "rabbitmq_queue_messages_ready{vhost=\"/\",queue=\"$ackq\"}" "$tmp/rabbitmq.prom" && break
  sleep 0.5
done
grep -qF "rabbitmq_queue_messages_ready{vhost=\"/\",queue=\"$ackq\"}" "$tmp/rabbitmq.prom" ||
  fail "$rmq_url/metrics/per-object has no per-queue series for $ackq after 15 s"
exports_all "$tmp/rabbitmq.prom" "RabbitMQ's /metrics/per-object" "${rmq_names[@]}"
note "RabbitMQ ($rmq_hostport) exports all ${#rmq_names[@]} rabbitmq_* names, per queue"

# ---------------------------------------------------------------- 4. Prometheus runs every dashboard query
papi="http://127.0.0.1:$pport/api/v1"
query() { curl -sf --max-time 5 --data-urlencode "query=$1" "$papi/query"; }
# Ready once both targets were scraped up at least twice (rate() needs two samples) and the scrapes
# include the per-queue series of our ack queue.
ready_q="count(count_over_time(up[1m]) >= 2 and up == 1) + count(rabbitmq_queue_messages_ready{queue=\"$ackq\"})"
for ((i = 0; i < 100; i++)); do
  kill -0 "$prom_pid" 2>/dev/null || fail "prometheus exited while starting"
  r=$(query "$ready_q" 2>/dev/null | jq -r '.data.result[0].value[1] // 0' 2>/dev/null) || r=0
  [ "$r" = 3 ] && break
  sleep 0.2
done
[ "$r" = 3 ] || fail "prometheus did not scrape both targets up twice (and $ackq's series) in 20 s: $(curl -s "$papi/targets" | jq -c '[.data.activeTargets[] | {job: .labels.job, health, lastError}]')"
for job in claimcheck-coordinator rabbitmq; do
  v=$(query "up{job=\"$job\"}" | jq -r '.data.result[0].value[1]')
  [ "$v" = 1 ] || fail "up{job=\"$job\"} is '$v', want 1"
done
note "prometheus on 127.0.0.1:$pport scrapes claimcheck-coordinator and rabbitmq (up == 1)"

n=0
while IFS= read -r e; do
  # Grafana variables -> values that select this test's coordinator and queues.
  q=$(sed -e 's/\$__rate_interval/1m/g' -e 's/\$__range/1m/g' -e 's/\$job/claimcheck-coordinator/g' \
          -e "s/\\\$instance/127.0.0.1:$cport/g" -e "s/\\\$ack_queue/$ackq/g" -e "s/\\\$dead_queue/$deadq/g" \
          -e "s/\\\$queue/$deadq/g" <<<"$e")
  if [[ "$q" == label_values\(* ]]; then
    # A variable's definition: label_values(SELECTOR, LABEL) -> series API.
    sel=$(sed -E 's/^label_values\((.*), *[A-Za-z_]+\)$/\1/' <<<"$q")
    res=$(curl -sf --max-time 5 --data-urlencode "match[]=$sel" "$papi/series") || fail "invalid selector in variable: $e"
  else
    [[ "$q" != *'$'* ]] || fail "unknown Grafana variable in: $e"
    res=$(query "$q") || fail "invalid PromQL (after filling in the variables: $q): $(curl -s --data-urlencode "query=$q" "$papi/query" | jq -r .error)"
  fi
  cnt=$(jq 'if (.data | type) == "array" then .data | length else .data.result | length end' <<<"$res")
  [ "$cnt" -gt 0 ] || fail "no series for dashboard query: $q"
  n=$((n + 1))
done < "$exprs_file"
note "all $n dashboard queries are valid PromQL and return data"
note "OK in $(( $(date +%s) - t_start )) s"
