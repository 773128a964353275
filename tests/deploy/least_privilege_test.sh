#!/usr/bin/env bash
# Least privilege of the local servers (DESIGN.md §9, issue 9 items 1, 4, 6) against the servers `make up`
# started: with a recipient's credentials RabbitMQ refuses reading another recipient's queue, reading q.ack,
# publishing to ex.msg, binding its own queue to ex.msg/ex.dlx and declaring actively (ACCESS_REFUSED); with the producer's S3 keys RGW refuses DeleteObject and
# ListObjectsV2 (403 AccessDenied) and allows put and get under its prefix; the coordinator may list and
# delete; recipients hold no S3 keys; the administrator of .local/env can still do everything tests need.
# FAILS (never skips) when the servers or the settings files are missing.
# amqp-tools take credentials only as arguments: they run for milliseconds against a loopback-only broker.
set -uo pipefail
root=${1:?usage: least_privilege_test.sh REPO_ROOT}
local_dir="${CLAIMCHECK_LOCAL_DIR:-$root/.local}"
fails=0
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; fails=$((fails + 1)); }
# hide passwords of amqp:// URLs in anything printed
mask() { sed -E 's#(amqps?://[^:/@]*:)[^@]*@#\1***@#g'; }

# env_get FILE NAME: the value of NAME in a settings file (not sourced: nothing leaks into this shell).
env_get() { sed -n "s/^$2=//p" "$1" | tail -n 1; }
for p in env env.producer env.coordinator env.branch1 env.branch2; do
  [ -s "$local_dir/$p" ] || { echo "FAIL: $local_dir/$p is missing: run 'make up' (it writes the per-party settings)"; exit 1; }
done
admin_url=$(env_get "$local_dir/env" AMQP_URL); admin_url=${admin_url%%,*}
b1_url=$(env_get "$local_dir/env.branch1" AMQP_URL)
prod_url=$(env_get "$local_dir/env.producer" AMQP_URL)
if [ -z "$admin_url" ] || [ -z "$b1_url" ] || [ -z "$prod_url" ]; then echo "FAIL: AMQP_URL missing in the settings files"; exit 1; fi

# ---- RabbitMQ ------------------------------------------------------------------------------------------
# refused WHAT USER RESOURCE OUTPUT: the broker authenticated USER and refused it RESOURCE (a failed login or
# an unreachable broker is not a refusal).
refused() {
  if grep -q "ACCESS_REFUSED - access to $3 in vhost '/' refused for user '$2'" <<<"$4"; then pass "$1: ACCESS_REFUSED"
  else fail "$1: expected ACCESS_REFUSED for user '$2' on $3, got: $(mask <<<"$4" | head -c 300)"; fi
}
out=$(timeout 20 amqp-get --url "$b1_url" -q q.branch2 2>&1); refused "branch1 reads q.branch2" branch1 "queue 'q.branch2'" "$out"
out=$(timeout 20 amqp-get --url "$b1_url" -q q.ack 2>&1); refused "branch1 reads q.ack" branch1 "queue 'q.ack'" "$out"
out=$(timeout 20 amqp-publish --url "$b1_url" -e ex.msg -r branch2 -C application/json -b '{}' 2>&1)
refused "branch1 publishes to ex.msg" branch1 "exchange 'ex.msg'" "$out"
# Binding needs write on the queue and read on the exchange: no party has both, so branch1 cannot bind its
# own queue to ex.msg under branch2's routing key (copies of branch2's pointers) nor to ex.dlx (every dead
# letter). amqp-consume -q Q -e X -r K sends queue.bind (it consumes only if the bind succeeded: timeout).
# refused_bind WHAT USER QUEUE EXCHANGE OUTPUT: refused on the queue (write) or on the exchange (read).
refused_bind() {
  if grep -Eq "ACCESS_REFUSED - access to (queue '$3'|exchange '$4') in vhost '/' refused for user '$2'" <<<"$5"; then
    pass "$1: ACCESS_REFUSED"
  else fail "$1: expected ACCESS_REFUSED for user '$2' on queue '$3' or exchange '$4', got: $(mask <<<"$5" | head -c 300)"; fi
}
out=$(timeout 10 amqp-consume --url "$b1_url" -q q.branch1 -e ex.msg -r branch2 -c 1 cat 2>&1)
refused_bind "branch1 binds q.branch1 to ex.msg with key branch2" branch1 q.branch1 ex.msg "$out"
out=$(timeout 10 amqp-consume --url "$b1_url" -q q.branch1 -e ex.dlx -r '' -c 1 cat 2>&1)
refused_bind "branch1 binds q.branch1 to ex.dlx" branch1 q.branch1 ex.dlx "$out"
out=$(timeout 10 amqp-declare-queue --url "$b1_url" -q q.branch1 -d 2>&1)
refused "branch1 (re)declares q.branch1 actively" branch1 "queue 'q.branch1'" "$out"
# The binding is not there (the administrator's view; its user:password, percent-decoded, via a curl config).
admin_mgmt=$(env_get "$local_dir/env" RABBITMQ_MGMT_URL)
admin_info=${admin_url#*://}; admin_info=${admin_info%%@*}
b=$(curl -sS -K <(printf 'user = "%b"\n' "${admin_info//%/\\x}") --max-time 15 \
  "${admin_mgmt%/}/api/bindings/%2F/e/ex.msg/q/q.branch1" 2>/dev/null)
if [[ "$b" == \[* ]] && ! grep -q '"routing_key":"branch2"' <<<"$b"; then pass "no binding ex.msg -> q.branch1 with key branch2"
else fail "ex.msg -> q.branch1 bindings: $(head -c 300 <<<"$b")"; fi
out=$(timeout 20 amqp-get --url "$prod_url" -q q.branch1 2>&1); refused "producer reads q.branch1" producer "queue 'q.branch1'" "$out"
out=$(timeout 20 amqp-get --url "$prod_url" -q q.ack 2>&1); refused "producer reads q.ack" producer "queue 'q.ack'" "$out"

# The administrator: declare, publish, get and delete a scratch queue.
scratch="cc-test.least-privilege.$$"
msg="probe-$$-$RANDOM"
if timeout 20 amqp-declare-queue --url "$admin_url" -q "$scratch" >/dev/null 2>&1 &&
   timeout 20 amqp-publish --url "$admin_url" -r "$scratch" -b "$msg" 2>/dev/null &&
   [ "$(timeout 20 amqp-get --url "$admin_url" -q "$scratch" 2>/dev/null)" = "$msg" ]; then
  pass "administrator declares, publishes to and reads a scratch queue"
else
  fail "administrator could not declare/publish/get $scratch"
fi
timeout 20 amqp-delete-queue --url "$admin_url" -q "$scratch" >/dev/null 2>&1 || fail "administrator could not delete $scratch"

# ---- S3 (RGW) ------------------------------------------------------------------------------------------
endpoint=$(env_get "$local_dir/env" S3_ENDPOINT); region=$(env_get "$local_dir/env" S3_REGION)
bucket=$(env_get "$local_dir/env" S3_BUCKET)
# s3 ENVFILE METHOD PATH [curl args]: prints "STATUS CODE" (CODE: the S3 error code, if any). The keys go to
# curl as a config on a pipe, never on its command line.
s3() {
  local f="$1" m="$2" p="$3" body; shift 3
  body=$(mktemp)
  local st
  st=$(curl -sS -K <(printf 'user = "%s:%s"\n' "$(env_get "$f" S3_ACCESS_KEY)" "$(env_get "$f" S3_SECRET_KEY)") \
    -o "$body" -w '%{http_code}' --max-time 20 --aws-sigv4 "aws:amz:$region:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    -X "$m" "$@" "$endpoint/$bucket$p" 2>/dev/null) || st=000
  printf '%s %s\n' "$st" "$(grep -o '<Code>[^<]*' "$body" | cut -d'>' -f2)"
  rm -f "$body"
}
expect() { # expect WHAT GOT WANTED_REGEX
  if [[ "$2" =~ ^$3$ ]]; then pass "$1: $2"; else fail "$1: expected $3, got '$2'"; fi
}
keyed=$(grep -lE '^(S3|MINIO)_(ACCESS|SECRET)_KEY=' "$local_dir"/env.branch* 2>/dev/null | xargs -r -n1 basename | tr '\n' ' ')
if [ -z "$keyed" ]; then pass "recipients' settings hold no S3 keys"; else fail "recipients' settings hold S3 keys: $keyed"; fi
key="claimcheck/least-privilege-test/$$-$RANDOM"
P="$local_dir/env.producer" C="$local_dir/env.coordinator" A="$local_dir/env"
expect "producer PutObject $key" "$(s3 "$P" PUT "/$key" --data-binary probe)" "200 "
expect "producer GetObject" "$(s3 "$P" GET "/$key")" "200 "
expect "producer DeleteObject refused" "$(s3 "$P" DELETE "/$key")" "403 AccessDenied"
expect "producer ListObjectsV2 refused" "$(s3 "$P" GET "?list-type=2&prefix=claimcheck%2F")" "403 AccessDenied"
expect "producer PutObject outside its prefixes refused" "$(s3 "$P" PUT "/elsewhere/$$" --data-binary x)" "403 AccessDenied"
expect "producer GetBucketLifecycle refused" "$(s3 "$P" GET "?lifecycle=")" "403 AccessDenied"
expect "coordinator ListObjectsV2" "$(s3 "$C" GET "?list-type=2&prefix=claimcheck%2Fleast-privilege-test%2F")" "200 "
expect "coordinator DeleteObject" "$(s3 "$C" DELETE "/$key")" "204 "
akey="least-privilege-test/admin-$$"
expect "administrator PutObject" "$(s3 "$A" PUT "/$akey" --data-binary x)" "200 "
expect "administrator ListObjectsV2" "$(s3 "$A" GET "?list-type=2&prefix=least-privilege-test%2F")" "200 "
expect "administrator GetBucketLifecycle" "$(s3 "$A" GET "?lifecycle=")" "(200 |404 NoSuchLifecycleConfiguration)"
expect "administrator DeleteObject" "$(s3 "$A" DELETE "/$akey")" "204 "

if [ "$fails" -gt 0 ]; then echo "least privilege: $fails check(s) FAILED"; exit 1; fi
echo "least privilege: all checks passed"
