# Sourced by shell tests and benchmarks:
# - s3_delete_prefix PREFIX deletes every object of $S3_BUCKET under PREFIX (objects a test stored that no
#   coordinator deleted, e.g. after a failure), with curl's SigV4: ListObjectsV2 pages of up to 1000 keys, each
#   page's keys deleted by one `curl --parallel` (one DELETE per key), until the listing is empty. Best effort:
#   never fails the caller. PREFIX must be URL-safe apart from '/', e.g. "t1234/".
# - s3_curl_config prints the curl config lines (-K) that sign requests for $S3_ENDPOINT: credentials, SigV4,
#   UNSIGNED-PAYLOAD. Secrets and keys reach curl on stdin (-K -), never on a command line: append `url = ...`
#   (and `upload-file = ...`, `output = ...`) lines after it.
# Needs S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY (S3_REGION, default us-east-1).
s3_curl_config() {
  printf 'user = "%s:%s"\naws-sigv4 = "aws:amz:%s:s3"\nheader = "x-amz-content-sha256: UNSIGNED-PAYLOAD"\n' \
    "$S3_ACCESS_KEY" "$S3_SECRET_KEY" "${S3_REGION:-us-east-1}"
}

s3_delete_prefix() {
  local prefix=${1:?usage: s3_delete_prefix PREFIX} keys round
  for round in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    keys=$(s3_curl_config | curl -s -K - --max-time 30 "$S3_ENDPOINT/$S3_BUCKET?list-type=2&prefix=${prefix//\//%2F}" |
      grep -oE '<Key>[^<]+</Key>' | sed -E 's#</?Key>##g') || true  # no key: grep fails the pipeline
    [ -n "$keys" ] || return 0
    { s3_curl_config; printf 'request = "DELETE"\n'
      while read -r k; do printf 'url = "%s/%s/%s"\noutput = "/dev/null"\n' "$S3_ENDPOINT" "$S3_BUCKET" "$k"; done <<<"$keys"
    } | curl -s --parallel --parallel-max 8 --max-time 120 -K - >/dev/null 2>&1 || true
  done
  return 0
}
