#!/usr/bin/env bash
# e2e: the `make demo` path (scripts/demo) on a small input of real files made here: mixed sizes, an empty
# file, spaces and non-ASCII names, nested dirs. Needs the local servers (`make up`) and the built CLI.
# Asserts the demo's last line reports the exact file and byte counts, 3 recipients, 3 copies of each
# payload verified, every object deleted and none leaked; that every party ran as its own broker user, and,
# with a binary that presigns (`produce --no-presign` exists), that no recipient held S3 keys.
set -euo pipefail
# shellcheck source=tests/support/e2e_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/e2e_lib.sh"
e2e_start "$@"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
in="$work/input"
mkdir -p "$in/sub dir/ñandú" "$in/deep/a/b"
: >"$in/empty.txt"
printf 'x' >"$in/one-byte"
head -c 300000 /dev/urandom >"$in/sub dir/random 300k.bin"
seq 1 200000 >"$in/deep/a/b/numbers.txt"
printf 'Grüße, 日本語\n' >"$in/sub dir/ñandú/übung.txt"
cp /etc/os-release "$in/os-release"
files=$(find "$in" -type f | wc -l)
bytes=$(find "$in" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')

out="$work/demo.out"
set +e
DEMO_SKIP_SETUP=1 DEMO_DIR="$in" SYNTH_COUNT=2 SYNTH_SIZE=200KB DEMO_TIMEOUT=180 CLAIMCHECK_BIN="$bin" \
  bash "$root/scripts/demo" >"$out" 2>&1
rc=$?
set -e
cat "$out"
last=$(tail -n 1 "$out")
[ "$rc" -eq 0 ] || { echo "FAIL: demo exited $rc"; exit 1; }
expected_verified=$(( (files + 2) * 3 ))
expected_deleted=$(( files + 2 ))
re="^demo: OK files=${files} bytes=${bytes} recipients=3 verified=${expected_verified} deleted=${expected_deleted} leaked=0 elapsed=[0-9]+s$"
grep -q '^demo: parties: .* each as its own broker user' "$out" || { echo "FAIL: the demo did not run each party as its own user"; exit 1; }
if grep -q -- --no-presign <<<"$("$bin" produce --help 2>/dev/null)"; then
  grep -q "recipients' environments hold no S3 keys" "$out" || { echo "FAIL: recipients were not shown to run without S3 keys"; exit 1; }
fi
if [[ "$last" =~ $re ]]; then
  echo "PASS: $last"
else
  echo "FAIL: last line '$last' does not match '$re'"
  exit 1
fi
