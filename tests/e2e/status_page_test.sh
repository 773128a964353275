#!/usr/bin/env bash
# End-to-end test of the coordinator's status page (issue 13 item 4) with the real `claimcheck` binary on the
# local servers: a coordinator with --http-addr (free port, its own exchanges/queues/key prefix, --lag-warn 1s),
# N payloads produced to two recipients, a consumer for only one of them; then
#  a. GET /api/status: the stopped recipient has pending = N and is lagging, the other has pending 0;
#     /metrics has the same numbers in claimcheck_recipient_pending_objects;
#  b. GET / in headless Chromium (--dump-dom): the DOM names the lagging recipient, marks it lagging and shows
#     the same numbers as /api/status (pending, PENDING count; the age between two /api/status reads);
#  c. a second coordinator on the same --http-addr exits 3 naming the address;
#  d. the stopped recipient catches up: every object is deleted and nobody is listed any more.
# Needs `make up` (AMQP_URL, S3_*, RABBITMQ_MGMT_URL; .local/env is the administrator's) and chromium; fails,
# never skips, without them. Cleans up its processes (by pid), queues and exchanges. ~15 s.
# Usage: status_page_test.sh REPO_ROOT CLAIMCHECK_BINARY
set -euo pipefail
# shellcheck source=tests/support/e2e_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/e2e_lib.sh"
e2e_start "$@"
N=4
e2e_require curl jq python3 chromium
e2e_load_env AMQP_URL
e2e_need_env "make up" AMQP_URL S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET RABBITMQ_MGMT_URL

u="stp$(date +%s)$$"
live="$u-live" stopped="$u-stopped"
e2e_topology "$u"
admin=$(amqp_user)
tmp=$(mktemp -d)
coord_pid=""
cleanup() {
  local rc=$?
  if [ -n "$coord_pid" ]; then kill -TERM "$coord_pid" 2>/dev/null || true; wait "$coord_pid" 2>/dev/null || true; fi
  rmq_delete_topology "$u" "$live" "$stopped"
  s3_delete_prefix "$u/"  # objects of a failed run (after a clean one there are none)
  [ "$rc" = 0 ] || e2e_tails 20 "$tmp"/*.log
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

port=$(free_port)
base="http://127.0.0.1:$port"
api() { curl -sf --max-time 5 "$base/api/status"; }

# ---------------------------------------------------------------- the coordinator and its page
"$bin" coordinator --db "sqlite:$tmp/refcount.db" --http-addr "127.0.0.1:$port" "${topo[@]}" --key-prefix "$u" \
  --lifecycle-days 0 --no-orphan-sweep --sweep-interval 1s --lag-warn 1s --status-interval 1s \
  --producer-users "$admin" --recipient-users "*=$admin" >"$tmp/coordinator.log" 2>&1 &
coord_pid=$!
# The page is served from the start; health turns green once the broker is connected and the store was read.
e2e_wait_healthy "$coord_pid" "$base" || fail "/api/status does not show a connected coordinator after 15 s: $(api)"
note "coordinator on $base: broker connected, store reachable"

# c. the address is taken now: a second coordinator says so and exits 3 before doing anything.
rc=0
"$bin" coordinator --db "sqlite:$tmp/second.db" --http-addr "127.0.0.1:$port" "${topo[@]}" --key-prefix "$u" \
  --lifecycle-days 0 --producer-users "$admin" >"$tmp/second.log" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "a second coordinator on 127.0.0.1:$port exited $rc, want 3"
grep -q "cannot serve HTTP on 127.0.0.1:$port" "$tmp/second.log" || fail "the port-taken error does not name the address"

# ---------------------------------------------------------------- N payloads to both, one consumer
"$bin" produce --msg-size 2KB --count "$N" --recipients "$live,$stopped" "${topo[@]}" --key-prefix "$u" --ttl 1h \
  >"$tmp/produce.log" 2>&1 || fail "produce failed"
"$bin" consume --recipient "$live" --allowed-producers "$admin" --max-messages "$N" --idle-exit 20 "${topo[@]}" \
  --state-dir "$tmp/state" >"$tmp/consume-live.log" 2>&1 || fail "consume $live failed"
note "produced $N payloads to $live and $stopped; $live consumed them"

# ---------------------------------------------------------------- a. /api/status and /metrics
lag_q=".recipients | map({key: .recipient_id, value: .}) | from_entries"
for ((i = 0; i < 100; i++)); do
  j=$(api) || fail "GET /api/status failed"
  jq -e --arg s "$stopped" --arg l "$live" --argjson n "$N" "($lag_q) as \$r |
      \$r[\$s].pending == \$n and \$r[\$s].lagging and \$r[\$l].pending == 0" <<<"$j" >/dev/null && break
  sleep 0.2
done
echo "$j" >"$tmp/api-before.json"
jq -e --arg s "$stopped" --argjson n "$N" "($lag_q)[\$s] | .pending == \$n and .lagging and .oldest_pending_age_seconds >= 1" \
  <<<"$j" >/dev/null || fail "/api/status: $stopped is not lagging with pending $N: $(jq -c .recipients <<<"$j")"
jq -e --arg l "$live" "($lag_q)[\$l] | .pending == 0 and (.lagging | not) and .oldest_pending_age_seconds == null" \
  <<<"$j" >/dev/null || fail "/api/status: $live should have nothing pending: $(jq -c .recipients <<<"$j")"
jq -e --arg s "$stopped" --argjson n "$N" '.lagging == [$s] and .counts.PENDING == $n and (.recipients | length) == 2' \
  <<<"$j" >/dev/null || fail "/api/status: lagging list or counts wrong: $(jq -c '{lagging, counts}' <<<"$j")"
note "/api/status: $stopped pending $N, lagging ($(jq -r --arg s "$stopped" "($lag_q)[\$s].oldest_pending_age_seconds" <<<"$j") s); $live pending 0"
curl -sf --max-time 5 "$base/metrics" >"$tmp/metrics.prom" || fail "GET /metrics failed"
grep -qxF "claimcheck_recipient_pending_objects{recipient=\"$stopped\"} $N" "$tmp/metrics.prom" ||
  fail "/metrics lacks pending $N for $stopped: $(grep claimcheck_recipient_ "$tmp/metrics.prom")"
grep -qxF "claimcheck_recipient_pending_objects{recipient=\"$live\"} 0" "$tmp/metrics.prom" ||
  fail "/metrics lacks pending 0 for $live"
grep -qxF "claimcheck_recipient_lagging{recipient=\"$stopped\"} 1" "$tmp/metrics.prom" || fail "/metrics: $stopped not lagging"

# ---------------------------------------------------------------- b. the page in headless Chromium
profile=$(mktemp -d -p "$tmp")
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --dump-dom "$base/" \
  >"$tmp/dom.html" 2>"$tmp/chromium.log" || fail "chromium --dump-dom $base/ failed"
api >"$tmp/api-after.json" || fail "GET /api/status failed"
python3 - "$tmp/dom.html" "$tmp/api-before.json" "$tmp/api-after.json" "$stopped" "$live" <<'PY' || fail "the page does not match /api/status"
import html.parser, json, sys
dom_path, before_path, after_path, stopped, live = sys.argv[1:]
before, after = json.load(open(before_path)), json.load(open(after_path))

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.states, self.title, self._in, self._row = {}, {}, "", None, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "recipient" in a.get("class", "").split():
            self._row = a["data-recipient"]
            self.rows[self._row] = {"attrs": a, "text": ""}
        elif tag == "td" and "data-state" in a:
            self._in = ("state", a["data-state"])
        elif tag == "title":
            self._in = ("title", None)
    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        if tag in ("td", "title"):
            self._in = None
    def handle_data(self, data):
        if self._row:
            self.rows[self._row]["text"] += data + "|"
        if self._in and self._in[0] == "state":
            self.states[self._in[1]] = int(data)
        elif self._in and self._in[0] == "title":
            self.title += data

p = Page()
p.feed(open(dom_path).read())
def check(ok, what):
    if not ok:
        sys.exit(f"status_page_test: page: {what}")
check(stopped in p.rows and live in p.rows, f"no rows for {stopped} and {live}: {list(p.rows)}")
s, l = p.rows[stopped], p.rows[live]
check("lagging" in s["attrs"]["class"].split(), f"{stopped} is not marked lagging: {s}")
check(s["text"].startswith(stopped + "|") and "LAGGING" in s["text"], f"{stopped}'s row does not name it as LAGGING: {s['text']}")
n_before = {r["recipient_id"]: r for r in before["recipients"]}
check(int(s["attrs"]["data-pending"]) == n_before[stopped]["pending"], f"pending differs: {s} vs {n_before[stopped]}")
check(s["text"].split("|")[1] == str(n_before[stopped]["pending"]), f"the pending cell differs: {s['text']}")
age = int(s["attrs"]["data-age-seconds"])
lo = n_before[stopped]["oldest_pending_age_seconds"]
hi = {r["recipient_id"]: r for r in after["recipients"]}[stopped]["oldest_pending_age_seconds"]
check(lo <= age <= hi, f"age {age} s is not between the /api/status reads before ({lo}) and after ({hi})")
check("lagging" not in l["attrs"]["class"].split() and int(l["attrs"]["data-pending"]) == 0, f"{live}: {l}")
check(p.states.get("PENDING") == before["counts"]["PENDING"], f"PENDING count {p.states} vs {before['counts']}")
check(p.title.strip() == "claimcheck coordinator: 1 lagging", f"title '{p.title}'")
print(f"status_page_test: page: {stopped} LAGGING pending {s['attrs']['data-pending']} age {age} s "
      f"(api {lo}..{hi}); {live} ok pending 0; PENDING {p.states['PENDING']}")
PY

# ---------------------------------------------------------------- d. the stopped recipient catches up
"$bin" consume --recipient "$stopped" --allowed-producers "$admin" --max-messages "$N" --idle-exit 20 "${topo[@]}" \
  --state-dir "$tmp/state" >"$tmp/consume-stopped.log" 2>&1 || fail "consume $stopped failed"
for ((i = 0; i < 150; i++)); do
  j=$(api) || fail "GET /api/status failed"
  jq -e --argjson n "$N" '.counts.DELETED == $n and .not_deleted == 0 and .recipients == [] and .lagging == []' \
    <<<"$j" >/dev/null && break
  sleep 0.2
done
jq -e --argjson n "$N" '.counts.DELETED == $n and .recipients == []' <<<"$j" >/dev/null ||
  fail "after $stopped caught up: $(jq -c '{counts, recipients}' <<<"$j")"
note "$stopped caught up: $N objects deleted, no recipient listed"
note "OK in $(( $(date +%s) - t_start )) s"
