# Sourced by shell tests: s3_delete_prefix PREFIX deletes every object of $S3_BUCKET under PREFIX (objects a
# test stored that no coordinator deleted, e.g. after a failure), with curl's SigV4 (ListObjectsV2 page of up
# to 1000 keys, then one DELETE per key). The keys reach curl on stdin (-K -), never on a command line.
# Needs S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY (S3_REGION, default us-east-1). Best effort:
# never fails the caller. PREFIX must be URL-safe apart from '/', e.g. "t1234/".
s3_delete_prefix() {
  local prefix=${1:?usage: s3_delete_prefix PREFIX} k
  local auth=(--aws-sigv4 "aws:amz:${S3_REGION:-us-east-1}:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --max-time 10)
  _s3_creds() { printf 'user = "%s:%s"\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY"; }
  _s3_creds | curl -s -K - "${auth[@]}" "$S3_ENDPOINT/$S3_BUCKET?list-type=2&prefix=${prefix//\//%2F}" |
    grep -oE '<Key>[^<]+</Key>' | sed -E 's#</?Key>##g' | while read -r k; do
      _s3_creds | curl -s -K - "${auth[@]}" -o /dev/null -X DELETE "$S3_ENDPOINT/$S3_BUCKET/$k" || true
    done || true  # no key: grep fails the pipeline
  return 0
}
