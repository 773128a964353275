# shellcheck shell=bash
# Per-party identities of scripts/infra (DESIGN.md §9). Sourced after common.sh, not executed.
#
#  - RabbitMQ: one user per party (producer, coordinator, each recipient), random password, no tags, and
#    configure/write/read regexes covering exactly what that party declares, publishes and consumes.
#  - RGW: the coordinator holds its own key pair of the bucket owner (delete, list, lifecycle); the producer
#    is its own RGW user granted put, get and multipart under its key prefixes by the bucket policy;
#    recipients have no S3 user (they download through the pointer's presigned url).
#  - $LOCAL/env.<party> (mode 600): that party's AMQP_URL and only the S3 settings it needs.
# Generated secrets live in $LOCAL/parties (mode 600). Passwords and secret keys never go on a command
# line: management API bodies and curl credentials go through stdin or a /dev/fd config, radosgw-admin
# generates the secret keys itself (--gen-secret) and they are read back from its JSON output.

DEFAULT_RECIPIENTS=(branch1 branch2 branch3)
PRODUCER_USER=producer
COORDINATOR_USER=coordinator
READER_USER=s3-reader   # optional, `scripts/infra s3-reader`: GET-only keys for recipients without presigned urls
# AMQP names are the defaults (ex.msg, q.<recipient>, ...) with an optional namespace prefix: the demo's `demo.`.
PARTY_NS_RE='(demo\.)?'
PARTY_NAMESPACES=("" "demo.")
# Key prefixes the producer may write under: the CLI's default --key-prefix and the demo's.
PRODUCER_KEY_PREFIXES=(claimcheck demo)
DELIVERY_LIMIT=20       # amqp::TopologyNames::delivery_limit: the queues are declared with the same arguments

# ---------------------------------------------------------------- secrets file

load_parties() {
  PARTIES_FILE="$LOCAL/parties"
  declare -gA PARTY=()
  if [ -f "$PARTIES_FILE" ]; then
    local k v
    while IFS='=' read -r k v; do
      [[ "$k" =~ ^[A-Za-z0-9_.-]+$ ]] && PARTY[$k]="$v"
    done < "$PARTIES_FILE"
  fi
  [ -n "${PARTY[RECIPIENTS]:-}" ] || PARTY[RECIPIENTS]="$(IFS=,; echo "${DEFAULT_RECIPIENTS[*]}")"
  IFS=, read -r -a RECIPIENT_LIST <<<"${PARTY[RECIPIENTS]}"
  local u
  for u in "$PRODUCER_USER" "$COORDINATOR_USER" "${RECIPIENT_LIST[@]}"; do
    [ -n "${PARTY[amqp.$u]:-}" ] || PARTY[amqp.$u]="$(rand_hex 16)"
  done
  [ -n "${PARTY[s3key.$PRODUCER_USER]:-}" ] || PARTY[s3key.$PRODUCER_USER]="CP$(rand_hex 9 | tr a-f A-F)"
  [ -n "${PARTY[s3key.$COORDINATOR_USER]:-}" ] || PARTY[s3key.$COORDINATOR_USER]="CO$(rand_hex 9 | tr a-f A-F)"
}

save_parties() {
  local tmp="$PARTIES_FILE.tmp.$$" k
  ( umask 077; for k in "${!PARTY[@]}"; do printf '%s=%s\n' "$k" "${PARTY[$k]}"; done | LC_ALL=C sort > "$tmp" )
  mv -f "$tmp" "$PARTIES_FILE"
}

valid_recipient_name() { [[ "$1" =~ ^[a-z0-9][a-z0-9_-]{0,31}$ ]]; }

# ---------------------------------------------------------------- RabbitMQ users and permissions

# mgmt_call METHOD PATH: management API request as the administrator, JSON body on stdin; prints the HTTP status.
# The credentials go to curl as a config on a /dev/fd pipe, never on its command line.
mgmt_call() {
  curl -sS -K <(printf 'user = "%s:%s"\n' "${CFG[AMQP_USER]}" "${CFG[AMQP_PASSWORD]}") -o /dev/null -w '%{http_code}' \
    --max-time 15 -X "$1" -H 'content-type: application/json' --data-binary @- \
    "http://127.0.0.1:${CFG[MGMT_PORT]}$2" 2>/dev/null || true
}

# party_perms PARTY: prints the configure, write and read regexes of PARTY, one per line: only what the
# party really does (DESIGN.md §9). The administrator declares the whole topology at `make up` (rmq_declare);
# the programs try to declare it and, refused (403), verify exchanges and queues passively (a passive
# declare needs no rights) and assume the bindings (amqp::Client::declare). RabbitMQ's access-control table:
# exchange.declare/queue.declare need configure (not when passive); queue.bind needs write on the queue and
# read on the exchange; basic.publish needs write on the exchange; basic.consume/basic.get read on the queue.
# So no party gets configure rights, and none gets both write on a queue and read on an exchange: a recipient
# cannot bind its queue to ex.msg under another recipient's routing key, nor to ex.dlx.
# "^$" matches no name (exchanges and queues are never empty-named here).
party_perms() {
  local p="$1" ns="$PARTY_NS_RE"
  case "$p" in
    "$PRODUCER_USER")  # publishes pointers (ex.msg) and store records (ex.ack); reads nothing
      echo '^$'
      echo "^${ns}ex\\.(msg|ack)\$"
      echo '^$' ;;
    "$COORDINATOR_USER")  # consumes q.ack; dead-letters to ex.dlx
      echo '^$'
      echo "^${ns}ex\\.dlx\$"
      echo "^${ns}q\\.ack\$" ;;
    *)  # recipient: consumes q.<self>; publishes acks (ex.ack) and dead letters (ex.dlx)
      echo '^$'
      echo "^${ns}ex\\.(ack|dlx)\$"
      echo "^${ns}q\\.$p\$" ;;
  esac
}

# mgmt_json PATH: GET as the administrator; prints the JSON answer.
mgmt_json() {
  curl -sSf -K <(printf 'user = "%s:%s"\n' "${CFG[AMQP_USER]}" "${CFG[AMQP_PASSWORD]}") --max-time 15 \
    "http://127.0.0.1:${CFG[MGMT_PORT]}$1" 2>/dev/null
}

# rmq_hash_matches HASH PASSWORD: HASH (rabbit_password_hashing_sha256: base64 of salt[4] ++
# sha256(salt ++ password)) is that of PASSWORD. Lets 'up' leave a correct user alone.
rmq_hash_matches() {
  local hex; hex="$(base64 -d <<<"$1" 2>/dev/null | od -An -tx1 -v | tr -d ' \n')"
  [ ${#hex} -eq 72 ] || return 1
  [ "${hex:8}" = "$( { printf '%s' "${hex:0:8}" | xxd -r -p; printf '%s' "$2"; } | sha256sum | cut -c1-64)" ]
}

# rmq_ensure_party USER USERS PERMS: creates or updates the user (password from $LOCAL/parties, no tags) and its
# permissions on vhost /, unless they are already right. USERS: "name hash" lines of untagged users;
# PERMS: "user<TAB>configure<TAB>write<TAB>read" lines of vhost /.
rmq_ensure_party() {
  local u="$1" code perms hash
  hash="$(awk -v u="$u" '$1 == u {print $2}' <<<"$2")"
  if [ -z "$hash" ] || ! rmq_hash_matches "$hash" "${PARTY[amqp.$u]}"; then
    log "rabbitmq: setting up user $u"
    code="$(printf '{"password":"%s","tags":""}' "${PARTY[amqp.$u]}" | mgmt_call PUT "/api/users/$u")"
    [[ "$code" =~ ^20[14]$ ]] || die "rabbitmq: creating user $u failed: HTTP $code; see $(rmq_log)"
  fi
  mapfile -t perms < <(party_perms "$u")
  grep -qxF "$u"$'\t'"${perms[0]}"$'\t'"${perms[1]}"$'\t'"${perms[2]}" <<<"$3" && return 0
  code="$(jq -nc --arg c "${perms[0]}" --arg w "${perms[1]}" --arg r "${perms[2]}" '{configure:$c, write:$w, read:$r}' |
    mgmt_call PUT "/api/permissions/%2F/$u")"
  [[ "$code" =~ ^20[14]$ ]] || die "rabbitmq: setting permissions of $u failed: HTTP $code"
}

# rmq_declare NS NAMES BINDINGS: the administrator declares what is missing of the topology of namespace
# NS ("" or "demo.") with the arguments the programs use, so that no party has to create a queue: creating a
# queue with a dead-letter exchange needs read on the queue, which a producer must not have on q.<recipient>
# and a recipient not on q.ack. NAMES: existing exchange and queue names, one a line; BINDINGS: "exchange>queue:key" lines.
rmq_declare() {
  local ns="$1" names="$2" bindings="$3" x q r code
  has() { grep -qxF "$1" <<<"$names"; }
  for x in msg:direct ack:direct dlx:fanout; do
    has "${ns}ex.${x%%:*}" && continue
    code="$(mgmt_call PUT "/api/exchanges/%2F/${ns}ex.${x%%:*}" \
      <<<'{"type":"'"${x#*:}"'","durable":true,"auto_delete":false,"internal":false,"arguments":{}}')"
    [[ "$code" =~ ^20[14]$ ]] || warn "rabbitmq: declaring exchange ${ns}ex.${x%%:*} answered HTTP $code"
  done
  local dlq='{"x-queue-type":"quorum","x-dead-letter-exchange":"'"${ns}"'ex.dlx","x-delivery-limit":'"$DELIVERY_LIMIT"
  local -A args=([ack]="$dlq,\"x-single-active-consumer\":true}" [dead]='{"x-queue-type":"quorum"}')
  for r in "${RECIPIENT_LIST[@]}"; do args[$r]="$dlq}"; done
  for q in "${!args[@]}"; do
    has "${ns}q.$q" && continue
    code="$(mgmt_call PUT "/api/queues/%2F/${ns}q.$q" <<<'{"durable":true,"auto_delete":false,"arguments":'"${args[$q]}"'}')"
    [[ "$code" =~ ^20[14]$ ]] || warn "rabbitmq: declaring queue ${ns}q.$q answered HTTP $code"
  done
  local b want=("dlx>dead:" "ack>ack:ack" "ack>ack:store")
  for r in "${RECIPIENT_LIST[@]}"; do want+=("msg>$r:$r"); done
  for b in "${want[@]}"; do
    x="${b%%>*}"; q="${b#*>}"; r="${q#*:}"; q="${q%%:*}"
    grep -qxF "${ns}ex.$x>${ns}q.$q:$r" <<<"$bindings" && continue
    code="$(mgmt_call POST "/api/bindings/%2F/e/${ns}ex.$x/q/${ns}q.$q" <<<"{\"routing_key\":\"$r\",\"arguments\":{}}")"
    [[ "$code" =~ ^20[14]$ ]] || warn "rabbitmq: binding ${ns}q.$q to ${ns}ex.$x ('$r') answered HTTP $code"
  done
}

ensure_rmq_parties() {
  local users perms names bindings u ns
  if ! { users="$(mgmt_json /api/users | jq -r '.[] | select((.tags | length) == 0) | "\(.name) \(.password_hash)"')" &&
         perms="$(mgmt_json /api/permissions | jq -r '.[] | select(.vhost == "/") | [.user, .configure, .write, .read] | join("\t")')" &&
         names="$( { mgmt_json '/api/exchanges/%2F?columns=name'; mgmt_json '/api/queues/%2F?columns=name'; } | jq -r '.[].name')" &&
         bindings="$(mgmt_json '/api/bindings/%2F' |
           jq -r '.[] | select(.destination_type == "queue") | "\(.source)>\(.destination):\(.routing_key)"')"; }; then
    die "rabbitmq: management API of 127.0.0.1:${CFG[MGMT_PORT]} did not answer; see $(rmq_log)"
  fi
  for u in "$PRODUCER_USER" "$COORDINATOR_USER" "${RECIPIENT_LIST[@]}"; do rmq_ensure_party "$u" "$users" "$perms"; done
  for ns in "${PARTY_NAMESPACES[@]}"; do rmq_declare "$ns" "$names" "$bindings"; done
}

# ---------------------------------------------------------------- RGW users and bucket policy

rgw_admin() { timeout 60 radosgw-admin -c "$CEPH_CONF" -n "$RGW_NAME" "$@"; }

# rgw_secret_of UID ACCESS_KEY: prints the secret of that key of the user, creating the user or the key
# (secret generated by RGW) when missing.
rgw_secret_of() {
  local uid="$1" ak="$2" info secret
  if ! info="$(rgw_admin user info --uid="$uid" 2>/dev/null)"; then
    info="$(rgw_admin user create --uid="$uid" --display-name="claimcheck $uid" --access-key="$ak" --gen-secret \
      2>>"$CEPH_DIR/log/radosgw-admin.log")" || die "radosgw-admin user create $uid failed; see $CEPH_DIR/log/radosgw-admin.log"
  fi
  secret="$(jq -r --arg ak "$ak" '.keys[] | select(.access_key == $ak) | .secret_key' <<<"$info")"
  if [ -z "$secret" ]; then
    info="$(rgw_admin key create --uid="$uid" --key-type=s3 --access-key="$ak" --gen-secret 2>>"$CEPH_DIR/log/radosgw-admin.log")" ||
      die "radosgw-admin key create for $uid failed; see $CEPH_DIR/log/radosgw-admin.log"
    secret="$(jq -r --arg ak "$ak" '.keys[] | select(.access_key == $ak) | .secret_key' <<<"$info")"
  fi
  [ -n "$secret" ] || die "s3: no secret for key $ak of user $uid"
  printf '%s' "$secret"
}

bucket_policy() {
  local b="${CFG[S3_BUCKET]}" p res=() reader=""
  for p in "${PRODUCER_KEY_PREFIXES[@]}"; do res+=("\"arn:aws:s3:::$b/$p/*\""); done
  if [ -n "${PARTY[s3key.$READER_USER]:-}" ]; then
    reader=',{"Sid":"reader-get","Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/'"$READER_USER"'"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::'"$b"'/*"]}'
  fi
  printf '{"Version":"2012-10-17","Statement":[{"Sid":"producer-put-get-multipart","Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/%s"]},"Action":["s3:PutObject","s3:GetObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],"Resource":[%s]}%s]}' \
    "$PRODUCER_USER" "$(IFS=,; echo "${res[*]}")" "$reader"
}

# put_bucket_policy: PUT ?policy= as the bucket owner (the administrator's keys); body on stdin.
put_bucket_policy() {
  local code
  code="$(bucket_policy | curl -sS -K <(printf 'user = "%s:%s"\n' "${CFG[S3_ACCESS_KEY]}" "${CFG[S3_SECRET_KEY]}") \
    -o "$CEPH_DIR/log/bucket-policy.out" -w '%{http_code}' --max-time 15 --aws-sigv4 "aws:amz:${CFG[S3_REGION]}:s3" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -H 'content-type: application/json' -X PUT --data-binary @- \
    "http://127.0.0.1:${CFG[S3_PORT]}/${CFG[S3_BUCKET]}?policy=" 2>/dev/null)" || true
  [[ "$code" =~ ^20[04]$ ]] || die "s3: setting the bucket policy failed: HTTP $code; see $CEPH_DIR/log/bucket-policy.out"
}

# ensure_s3_parties: the producer's RGW user, the coordinator's key of the bucket owner, the bucket policy.
ensure_s3_parties() {
  PARTY[s3secret.$PRODUCER_USER]="$(rgw_secret_of "$PRODUCER_USER" "${PARTY[s3key.$PRODUCER_USER]}")"
  PARTY[s3secret.$COORDINATOR_USER]="$(rgw_secret_of "$S3_UID" "${PARTY[s3key.$COORDINATOR_USER]}")"
  if [ -n "${PARTY[s3key.$READER_USER]:-}" ]; then
    PARTY[s3secret.$READER_USER]="$(rgw_secret_of "$READER_USER" "${PARTY[s3key.$READER_USER]}")"
  fi
  put_bucket_policy
}

# ---------------------------------------------------------------- settings files

# write_party_env PARTY: $LOCAL/env.PARTY (mode 600) with that party's AMQP_URL and the S3 settings it needs.
write_party_env() {
  local p="$1" f="$LOCAL/env.$1" tmp="$LOCAL/env.$1.tmp.$$" r map=""
  (
    umask 077
    {
      echo "# Written by scripts/infra up — settings of party '$p' only (DESIGN.md §9). Source it: set -a; . $f; set +a"
      echo "AMQP_URL=amqp://$p:${PARTY[amqp.$p]}@127.0.0.1:${CFG[AMQP_PORT]}/%2F"
      echo "S3_ENDPOINT=http://127.0.0.1:${CFG[S3_PORT]}"
      echo "S3_REGION=${CFG[S3_REGION]}"
      echo "S3_BUCKET=${CFG[S3_BUCKET]}"
      if tls_wanted; then tls_party_env_lines "$p"; fi
      case "$p" in
        "$PRODUCER_USER")
          echo "S3_ACCESS_KEY=${PARTY[s3key.$p]}"
          echo "S3_SECRET_KEY=${PARTY[s3secret.$p]}" ;;
        "$COORDINATOR_USER")
          echo "S3_ACCESS_KEY=${PARTY[s3key.$p]}"
          echo "S3_SECRET_KEY=${PARTY[s3secret.$p]}"
          for r in "${RECIPIENT_LIST[@]}"; do map+="${map:+,}$r=$r"; done
          echo "# who the coordinator believes: --producer-users, --recipient-users (recipient id=broker user)"
          echo "CLAIMCHECK_PRODUCER_USERS=$PRODUCER_USER"
          echo "CLAIMCHECK_RECIPIENT_USERS=$map" ;;
        *)
          echo "# no S3 keys: the pointer's presigned url is the only way to the object; pointers only from these users"
          echo "CONSUMER_ID=$p"
          echo "CLAIMCHECK_ALLOWED_PRODUCERS=$PRODUCER_USER" ;;
      esac
    } > "$tmp"
  )
  chmod 600 "$tmp"
  mv -f "$tmp" "$f"
}

write_party_envs() {
  local p
  for p in "$PRODUCER_USER" "$COORDINATOR_USER" "${RECIPIENT_LIST[@]}"; do write_party_env "$p"; done
  if [ -n "${PARTY[s3secret.$READER_USER]:-}" ]; then
    ( umask 077; printf '# GET-only S3 keys for recipients that cannot use presigned urls (scripts/infra s3-reader)\nS3_ACCESS_KEY=%s\nS3_SECRET_KEY=%s\n' \
      "${PARTY[s3key.$READER_USER]}" "${PARTY[s3secret.$READER_USER]}" > "$LOCAL/env.$READER_USER" )
  fi
}

# ensure_parties [s3]: RabbitMQ users and topology always (fast: management API); RGW users and the bucket
# policy when asked or when a secret is not known yet; then the settings files.
ensure_parties() {
  local t0; t0="$(now)"
  load_parties
  ensure_rmq_parties
  if [ "${1:-}" = s3 ] || [ -z "${PARTY[s3secret.$PRODUCER_USER]:-}" ] || [ -z "${PARTY[s3secret.$COORDINATOR_USER]:-}" ]; then
    ensure_s3_parties
  fi
  save_parties
  write_party_envs
  log "parties: $PRODUCER_USER, $COORDINATOR_USER, ${RECIPIENT_LIST[*]}: users, permissions, $LOCAL/env.<party> ($(elapsed "$t0") s)"
}

require_up_for_parties() {
  rmq_user_ok || die "rabbitmq is not up under $LOCAL: run 'scripts/infra up' first"
  s3_ok || die "radosgw is not up under $LOCAL: run 'scripts/infra up' first"
}

# add-recipient NAME: one more recipient user (permissions, queues in every namespace, env file); the
# coordinator's mapping is updated (no party holds rights on q.NAME but NAME itself: read).
cmd_add_recipient() {
  local name="${1:-}"
  valid_recipient_name "$name" || die "add-recipient: NAME must match [a-z0-9][a-z0-9_-]{0,31}, got '$name'"
  case "$name" in "$PRODUCER_USER"|"$COORDINATOR_USER"|"$READER_USER"|"${CFG[AMQP_USER]}")
    die "add-recipient: '$name' is the name of another party" ;; esac
  require_up_for_parties
  load_parties
  if [[ ",${PARTY[RECIPIENTS]}," == *",$name,"* ]]; then
    log "parties: recipient $name already exists"
  else
    PARTY[RECIPIENTS]+=",$name"; save_parties
  fi
  ensure_parties
  log "parties: recipient $name ready; its settings: $LOCAL/env.$name"
}

# s3-reader: GET-only S3 keys ($LOCAL/env.s3-reader) for recipients of a build without presigned urls.
cmd_s3_reader() {
  require_up_for_parties
  load_parties
  [ -n "${PARTY[s3key.$READER_USER]:-}" ] || PARTY[s3key.$READER_USER]="CR$(rand_hex 9 | tr a-f A-F)"
  save_parties
  ensure_parties s3
  log "parties: GET-only keys of $READER_USER in $LOCAL/env.$READER_USER"
}
