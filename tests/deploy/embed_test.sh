#!/usr/bin/env bash
# The embeddable library (`make install`, cmake/Install.cmake) and the example apps (examples/):
#   1. `cmake --install BUILD --prefix TMP` installs headers, the static libraries, the CMake package, the
#      pkg-config file and the CLI — and nothing of the Debian package (/etc, systemd units);
#   2. examples/ is configured and built against TMP only (CMAKE_PREFIX_PATH=TMP, not the build tree:
#      claimcheck_DIR must be TMP's), and the producer example once more with `pkg-config claimcheck`;
#   3. against the local servers (`make up`; fails, never skips, without them), in a namespace of its own
#      (CLAIMCHECK_NAMESPACE: its own exchanges and queues, removed at the end): the producer example sends
#      one text to a fresh recipient, the consumer example receives it through its in-process callback
#      (handler_sink_factory) and prints it — the test asserts the exact line; then `claimcheck coordinator
#      --once` on that namespace counts the `processed` ack and deletes the object (status: DELETED).
set -uo pipefail
src=${1:?usage: embed_test.sh SOURCE_DIR BUILD_DIR CLAIMCHECK_BINARY}
build=${2:?usage: embed_test.sh SOURCE_DIR BUILD_DIR CLAIMCHECK_BINARY}
cli=${3:?usage: embed_test.sh SOURCE_DIR BUILD_DIR CLAIMCHECK_BINARY}
local_dir="${CLAIMCHECK_LOCAL_DIR:-$src/.local}"
work=$(mktemp -d)
prefix="$work/prefix"
ns="embed$$x$RANDOM"
fails=0
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; fails=$((fails + 1)); }
die() { echo "FAIL: $*"; exit 1; }
mgmt() { :; }  # set once the settings are loaded
cleanup() {
  for q in "$ns.q.${recipient:-none}" "$ns.q.ack" "$ns.q.dead"; do mgmt DELETE "queues/%2F/$q"; done
  for x in "$ns.ex.msg" "$ns.ex.ack" "$ns.ex.dlx"; do mgmt DELETE "exchanges/%2F/$x"; done
  rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. install into a temp prefix ------------------------------------------------------------------------
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; die "cmake --install"; }
libdir=$(cd "$prefix" && ls -d lib/x86_64-linux-gnu lib 2>/dev/null | head -n 1)
for f in include/claimcheck/consume/consumer.h include/claimcheck/produce/producer.h include/claimcheck/s3/s3_client.h \
         include/claimcheck/amqp/types.h "$libdir/cmake/claimcheck/claimcheckConfig.cmake" \
         "$libdir/cmake/claimcheck/claimcheckConfigVersion.cmake" "$libdir/cmake/claimcheck/claimcheckTargets.cmake" \
         "$libdir/pkgconfig/claimcheck.pc" bin/claimcheck; do
  [ -f "$prefix/$f" ] || fail "not installed: $f"
done
for l in core s3 amqp refstore pipeline; do [ -f "$prefix/$libdir/libclaimcheck_$l.a" ] || fail "not installed: libclaimcheck_$l.a"; done
[ ! -e "$prefix/etc" ] && [ ! -e "$prefix/lib/systemd" ] && [ ! -e /etc/claimcheck ] || fail "cmake --install wrote package files (etc/, lib/systemd/)"
[ -z "$(find "$prefix/include" -type f ! -name '*.h')" ] || fail "non-header files under include/"
[ "$fails" -eq 0 ] && pass "cmake --install --prefix: $(find "$prefix" -type f | wc -l) files (headers, 5 static libraries, CMake package, claimcheck.pc, CLI)"

# ---- 2. build the examples against the prefix only (warnings are errors) -----------------------------------
if ! cmake -S "$src/examples" -B "$work/examples" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_CXX_FLAGS="-Wall -Wextra -Wpedantic -Werror" >"$work/configure.log" 2>&1; then
  cat "$work/configure.log"; die "configuring examples/ against $prefix"
fi
found=$(sed -n 's/^claimcheck_DIR:PATH=//p' "$work/examples/CMakeCache.txt")
[ "$found" = "$prefix/$libdir/cmake/claimcheck" ] && pass "find_package(claimcheck CONFIG) found the prefix ($found)" \
  || fail "find_package(claimcheck) found '$found', not the prefix"
cmake --build "$work/examples" -j 2 >"$work/build.log" 2>&1 || { cat "$work/build.log"; die "building examples/"; }
producer="$work/examples/producer/claimcheck-example-producer"
consumer="$work/examples/consumer/claimcheck-example-consumer"
[ -x "$producer" ] && [ -x "$consumer" ] && pass "examples built (claimcheck::claimcheck)" || die "example binaries missing"
pc_flags=$(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config --cflags --libs claimcheck 2>&1) \
  || fail "pkg-config claimcheck: $pc_flags"
# shellcheck disable=SC2086  # the flags are words
if c++ -std=c++20 -O0 -I"$src/examples/common" "$src/examples/producer/main.cpp" -o "$work/producer-pc" $pc_flags \
     >"$work/pc.log" 2>&1; then
  "$work/producer-pc" >/dev/null 2>&1; rc=$?
  [ "$rc" -eq 2 ] && pass "pkg-config --cflags --libs claimcheck builds and links the producer example" \
    || fail "pkg-config build of the producer example: usage exit $rc, expected 2"
else
  cat "$work/pc.log"; fail "compiling with pkg-config claimcheck ($pc_flags)"
fi

# ---- 3. run them against the local servers -----------------------------------------------------------------
# The local servers' settings: .local/env, else the environment (`make test` exports .local/env).
if [ -s "$local_dir/env" ]; then set -a; . "$local_dir/env"; set +a; fi
for v in AMQP_URL S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET RABBITMQ_MGMT_URL; do
  [ -n "${!v:-}" ] || die "$v is not set and $local_dir/env is missing: run 'make up'"
done
admin_info=${AMQP_URL%%,*}; admin_info=${admin_info#*://}; admin_info=${admin_info%%@*}
admin_user=${admin_info%%:*}
# mgmt METHOD PATH: the management API as the administrator (user:password, percent-decoded, via a curl config).
mgmt() {
  curl -sS -o /dev/null -X "$1" -K <(printf 'user = "%b"\n' "${admin_info//%/\\x}") --max-time 15 \
    "${RABBITMQ_MGMT_URL%/}/api/$2" 2>/dev/null || true
}
recipient="r$RANDOM$$"
text="hello from embed_test $RANDOM, grüße"
export CLAIMCHECK_NAMESPACE="$ns" CLAIMCHECK_ALLOWED_PRODUCERS="$admin_user"
sent=$(timeout 60 "$producer" "$recipient" "$text" note.txt 2>"$work/producer.err"); rc=$?
[ "$rc" -eq 0 ] || { cat "$work/producer.err"; die "producer example exited $rc"; }
pointer_id=$(sed -nE 's/^sent pointer_id=([0-9a-f-]{36}) name=note\.txt bytes=[0-9]+ key=.+$/\1/p' <<<"$sent")
[ -n "$pointer_id" ] && pass "producer example: $sent" || die "producer example printed: $sent"
got=$(timeout 60 "$consumer" "$recipient" "$text" 2>"$work/consumer.err"); rc=$?
want="received pointer_id=$pointer_id name=note.txt bytes=$(printf '%s' "$text" | wc -c) text=$text"
if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then pass "consumer example's callback got it: $got"
else cat "$work/consumer.err"; fail "consumer example (rc=$rc) printed '$got', expected '$want'"; fi

topo=(--msg-exchange "$ns.ex.msg" --ack-exchange "$ns.ex.ack" --ack-queue "$ns.q.ack" --dlx "$ns.ex.dlx"
      --dead-queue "$ns.q.dead" --queue-prefix "$ns.q.")
timeout 90 "$cli" coordinator "${topo[@]}" --db "sqlite:$work/refcount.db" --once --producer-users "$admin_user" \
  --recipient-users "*=$admin_user" --lifecycle-days 0 --no-orphan-sweep >"$work/coordinator.log" 2>&1 \
  || { cat "$work/coordinator.log"; fail "claimcheck coordinator --once"; }
state=$("$cli" status "$pointer_id" --json --db "sqlite:$work/refcount.db" 2>&1 | jq -r '.state' 2>/dev/null)
[ "$state" = DELETED ] && pass "coordinator counted the consumer's ack and deleted the object ($state)" \
  || { cat "$work/coordinator.log"; fail "object $pointer_id state after coordinator --once: '$state'"; }

if [ "$fails" -ne 0 ]; then echo "embed_test: $fails failure(s)"; exit 1; fi
echo "embed_test: OK"
