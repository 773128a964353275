#!/usr/bin/env bash
# e2e, issue 8 item 7: on a bucket with versioning enabled (Ceph RGW), the coordinator deletes exactly the
# version each producer PUT created — single PUT and multipart alike — so no version and no delete marker is
# left under the run's prefix; its lifecycle rule also expires noncurrent versions and aborts incomplete
# multipart uploads. Needs the local servers (`make up`; settings as `make test` loads .local/env) and the
# built CLI; creates and removes its own bucket (S3 requests signed by curl --aws-sigv4).
set -euo pipefail
# shellcheck source=tests/support/e2e_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/e2e_lib.sh"
e2e_start "$@"
: "${AMQP_URL:?AMQP_URL is not set: run make up and load .local/env}" "${S3_ENDPOINT:?}" "${S3_ACCESS_KEY:?}" "${S3_SECRET_KEY:?}"
tag="ver$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
bucket="cc-$tag"
work=$(mktemp -d "/tmp/claimcheck-$tag.XXXX")
e2e_topology "$tag"  # rmq_delete_topology "$tag" ... cleans up
topo+=(--bucket "$bucket")
user=$(amqp_user)
export S3_BUCKET="$bucket" MINIO_BUCKET="$bucket"

s3() { # s3 METHOD PATH_AND_QUERY [BODY]: one signed request; prints the response body, fails on HTTP >= 300
  local body=${3-} sha data=()
  sha=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)
  [ $# -lt 3 ] || data=(-H 'Content-Type: application/xml' --data-binary "$body")
  # The keys go in a config on stdin (printf is a builtin): never on a command line `ps` shows.
  printf 'user = "%s:%s"\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" |
    curl -sS --fail-with-body -K - --aws-sigv4 "aws:amz:${S3_REGION:-us-east-1}:s3" \
      -H "x-amz-content-sha256: $sha" -X "$1" "${data[@]}" "$S3_ENDPOINT/$2"
}
fail() { echo "FAIL: $*"; echo "logs kept in $work"; keep=1; exit 1; }  # instead of e2e_lib.sh's: keeps the logs
keep=0
cleanup() {
  set +e
  [ -n "${coord:-}" ] && kill -TERM "$coord" 2>/dev/null && wait "$coord" 2>/dev/null
  rmq_delete_topology "$tag" a
  # Whatever is left (only after a failure): every version and marker, then the bucket.
  s3 GET "$bucket?versions=" 2>/dev/null | grep -o '<Key>[^<]*</Key><VersionId>[^<]*</VersionId>' |
    sed -E 's#<Key>([^<]*)</Key><VersionId>([^<]*)</VersionId>#\1 \2#' | while read -r k v; do
      s3 DELETE "$bucket/$k?versionId=$v" >/dev/null 2>&1
    done
  s3 DELETE "$bucket?lifecycle=" >/dev/null 2>&1
  s3 DELETE "$bucket" >/dev/null 2>&1
  [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

s3 PUT "$bucket" >/dev/null || fail "cannot create bucket $bucket"
s3 PUT "$bucket?versioning=" '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>' >/dev/null \
  || fail "cannot enable versioning on $bucket"
s3 GET "$bucket?versioning=" | grep -q '<Status>Enabled</Status>' || fail "versioning is not enabled on $bucket"

mkdir -p "$work/in" "$work/out"
head -c 20000 /dev/urandom >"$work/in/small.bin"
head -c 300 /dev/urandom >"$work/in/tiny.bin"
head -c $((12 * 1024 * 1024)) /dev/urandom >"$work/in/multipart.bin"   # > --s3-part-size 8MiB: multipart PUT

"$bin" coordinator "${topo[@]}" --db "sqlite:$work/coord.db" --key-prefix "test-$tag" --lifecycle-days 30 \
  --producer-users "$user" --recipient-users "*=$user" --sweep-interval 5s >"$work/coordinator.log" 2>&1 &
coord=$!
"$bin" produce "${topo[@]}" --dir "$work/in" --recipients a --key-prefix "test-$tag" >"$work/produce.log" 2>&1 \
  || fail "produce exited $?: $(tail -3 "$work/produce.log")"
"$bin" consume "${topo[@]}" --recipient a --out-dir "$work/out" --state-dir "$work/state" --allowed-producers "$user" \
  --max-messages 3 --idle-exit 30 >"$work/consume.log" 2>&1 || fail "consume exited $?: $(tail -3 "$work/consume.log")"
diff -r "$work/in" "$work/out" >/dev/null || fail "the recipient's output differs from the input"

for _ in $(seq 1 60); do
  deleted=$(CLAIMCHECK_DB="sqlite:$work/coord.db" "$bin" status --json | jq -r '.counts.DELETED')
  [ "$deleted" = 3 ] && break
  sleep 0.5
done
[ "$deleted" = 3 ] || fail "the coordinator deleted $deleted of 3 objects"
versions=$(s3 GET "$bucket?prefix=test-$tag%2F&versions=")
count() { { grep -o "$1" <<<"$2" || true; } | wc -l; }
n_versions=$(count '<Version>' "$versions")
n_markers=$(count '<DeleteMarker>' "$versions")
[ "$n_versions" -eq 0 ] && [ "$n_markers" -eq 0 ] \
  || fail "after the deletes $n_versions versions and $n_markers delete markers are left: $versions"
rules=$(s3 GET "$bucket?lifecycle=")
grep -q '<NoncurrentVersionExpiration><NoncurrentDays>' <<<"$rules" || fail "lifecycle has no NoncurrentVersionExpiration: $rules"
grep -q '<AbortIncompleteMultipartUpload>' <<<"$rules" || fail "lifecycle has no AbortIncompleteMultipartUpload: $rules"
echo "PASS: 3 objects (1 multipart) on versioned bucket $bucket deleted by exact version: 0 versions, 0 delete markers left; lifecycle expires noncurrent versions and aborts incomplete uploads"
