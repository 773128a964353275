#!/usr/bin/env bash
# The Debian package (`make package`, cmake/Package.cmake): builds claimcheck_<version>_<arch>.deb with CPack
# into a temp dir and checks
#   - its contents (dpkg-deb -c): /usr/bin/claimcheck, the three systemd units, the example env files
#     with mode 0600, the docs, and nothing else (no headers or static libraries);
#   - its control data (dpkg-deb -I): name, version (= `claimcheck --version`), architecture, Depends
#     (adduser and the shared libraries dpkg-shlibdeps found), conffiles = the env files, maintainer scripts;
#   - every unit with `systemd-analyze verify` (exit 0 and not one warning), its hardening directives, and
#     that every flag of its ExecStart exists in `claimcheck <command> --help`;
#   - that every variable the env files set (or show commented out) is one the CLI or the unit reads;
#   - installation: `dpkg -i` (user claimcheck, /usr/bin/claimcheck --version, env files 0600 root, units
#     verified in place), `dpkg -r` (binary and units gone, conffiles kept), `dpkg -P` (/etc/claimcheck gone).
#     In CI (CI=true) the real installation is required (CI runs as root on a fresh machine). Elsewhere it
#     is done when running as root, claimcheck is not installed already and dpkg is not locked; else (or with
#     CLAIMCHECK_PACKAGE_TEST=extract) the package is only unpacked with dpkg -x and its binary run there.
set -uo pipefail
src=${1:?usage: package_test.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: package_test.sh SOURCE_DIR BUILD_DIR}
work=$(mktemp -d)
fails=0
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; fails=$((fails + 1)); }
installed_by_us=0
user_created_by_us=0
cleanup() {
  if [ "$installed_by_us" = 1 ]; then dpkg -P claimcheck >/dev/null 2>&1 || true; fi
  if [ "$user_created_by_us" = 1 ] && getent passwd claimcheck >/dev/null; then deluser --system claimcheck >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
units=(claimcheck-consumer@.service claimcheck-coordinator.service claimcheck-outbox@.service)
envs=(consumer-example.env coordinator.env outbox-example.env)

# ---- build the package -----------------------------------------------------------------------------------
if ! cpack --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"; echo "FAIL: cpack"; exit 1
fi
arch=$(dpkg --print-architecture)
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
deb="$work/out/claimcheck_${version}_${arch}.deb"
[ -n "$version" ] && [ -f "$deb" ] || { ls -l "$work/out"; echo "FAIL: no claimcheck_${version}_${arch}.deb"; exit 1; }
pass "cpack built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

# ---- contents: path and mode of every entry ----------------------------------------------------------------
# "MODE OWNER PATH" per file (directories left out), sorted.
listing=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $1, $2, $6}' | sort -k3)
expected=$(sort -k3 <<EOF
-rw------- root/root ./etc/claimcheck/consumer-example.env
-rw------- root/root ./etc/claimcheck/coordinator.env
-rw------- root/root ./etc/claimcheck/outbox-example.env
-rw-r--r-- root/root ./lib/systemd/system/claimcheck-consumer@.service
-rw-r--r-- root/root ./lib/systemd/system/claimcheck-coordinator.service
-rw-r--r-- root/root ./lib/systemd/system/claimcheck-outbox@.service
-rwxr-xr-x root/root ./usr/bin/claimcheck
-rw-r--r-- root/root ./usr/share/doc/claimcheck/README.md
-rw-r--r-- root/root ./usr/share/doc/claimcheck/operations.md
EOF
)
if [ "$listing" = "$expected" ]; then pass "contents: binary, 3 units, 3 env files (0600 root), docs, nothing else"
else fail "contents differ:"; diff <(echo "$expected") <(echo "$listing"); fi

# ---- control data ----------------------------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = claimcheck ] && [ "$(field Version)" = "$version" ] && [ "$(field Architecture)" = "$arch" ] \
  && pass "control: claimcheck $version $arch" || fail "control: $(field Package) $(field Version) $(field Architecture)"
depends=$(field Depends)
missing_deps=""
for d in adduser librabbitmq4 libcurl4 libssl3 libzstd1 libisal2 libsqlite3-0 libpqxx-6.4 libuuid1; do
  grep -Eq "(^|, )$d( |,|$)" <<<"$depends" || missing_deps+=" $d"
done
[ -z "$missing_deps" ] && pass "Depends has adduser and the shared libraries ($depends)" || fail "Depends lacks$missing_deps: $depends"
conffiles=$(dpkg-deb -I "$deb" conffiles 2>&1 | sort)
want_conffiles=$(printf '/etc/claimcheck/%s\n' "${envs[@]}" | sort)
[ "$conffiles" = "$want_conffiles" ] && pass "conffiles: the 3 env files" || fail "conffiles: $conffiles"
for s in postinst prerm postrm; do
  dpkg-deb -I "$deb" "$s" >"$work/$s" 2>&1 || { fail "no $s script"; continue; }
  sh -n "$work/$s" || fail "$s: syntax"
done
grep -q 'adduser --system --group' "$work/postinst" && pass "postinst creates the system user" || fail "postinst: no adduser --system"

# ---- units: systemd-analyze verify, hardening, flags ------------------------------------------------------
dpkg-deb -x "$deb" "$work/root"
bin="$work/root/usr/bin/claimcheck"
[ "$("$bin" --version)" = "claimcheck $version" ] && pass "packaged binary: $("$bin" --version)" \
  || fail "packaged binary --version: $("$bin" --version 2>&1)"
# verify_units DIR [EXE]: systemd-analyze verify on each unit of DIR, its ExecStart pointed at EXE when given
# (verify needs the executable to exist). Exit 0 is not enough: verify only warns about unknown keys or
# unparsable values, so any output fails.
verify_units() {
  mkdir -p "$work/verify"
  for u in "${units[@]}"; do
    local f="$1/$u"
    if [ -n "${2:-}" ]; then sed "s#/usr/bin/claimcheck#$2#" "$1/$u" >"$work/verify/$u"; f="$work/verify/$u"; fi
    local out rc
    out=$(systemd-analyze verify "$f" 2>&1); rc=$?
    if [ "$rc" -eq 0 ] && [ -z "$out" ]; then pass "systemd-analyze verify $u ($1)"; else fail "verify $u (rc=$rc): $out"; fi
  done
}
verify_units "$work/root/lib/systemd/system" "$bin"
for u in "${units[@]}"; do
  f="$work/root/lib/systemd/system/$u"
  for d in User=claimcheck NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
           CapabilityBoundingSet= SystemCallFilter=@system-service RestrictAddressFamilies= SuccessExitStatus=130 \
           RestartPreventExitStatus=2 StateDirectory=claimcheck/ ReadWritePaths=-/srv/claimcheck; do
    grep -q "^$d" "$f" || fail "$u: no $d"
  done
done
declare -A envfile=([claimcheck-consumer@.service]=/etc/claimcheck/consumer-%i.env
                    [claimcheck-coordinator.service]=/etc/claimcheck/coordinator.env
                    [claimcheck-outbox@.service]=/etc/claimcheck/outbox-%i.env)
declare -A command=([claimcheck-consumer@.service]=consume [claimcheck-coordinator.service]=coordinator
                    [claimcheck-outbox@.service]=produce)
for u in "${units[@]}"; do
  f="$work/root/lib/systemd/system/$u"
  grep -qx "EnvironmentFile=${envfile[$u]}" "$f" && pass "$u reads ${envfile[$u]}" || fail "$u: EnvironmentFile is not ${envfile[$u]}"
  exec_line=$(sed -n 's/^ExecStart=//p' "$f")
  grep -q "^/usr/bin/claimcheck ${command[$u]} " <<<"$exec_line" || fail "$u: ExecStart is not claimcheck ${command[$u]}: $exec_line"
  help=$("$bin" "${command[$u]}" --help 2>&1)
  for flag in $(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$exec_line"); do
    if grep -q -- "$flag" <<<"$help"; then continue; fi
    fail "$u: ExecStart flag $flag is not in claimcheck ${command[$u]} --help"
  done
done

# ---- env files: every variable is one the CLI or its unit reads --------------------------------------------
declare -A env_unit=([consumer-example.env]=claimcheck-consumer@.service [coordinator.env]=claimcheck-coordinator.service
                     [outbox-example.env]=claimcheck-outbox@.service)
for e in "${envs[@]}"; do
  f="$work/root/etc/claimcheck/$e"
  u=${env_unit[$e]}
  known=$("$bin" "${command[$u]}" --help 2>&1; cat "$work/root/lib/systemd/system/$u")
  names=$(sed -nE 's/^#?([A-Z][A-Z0-9_]*)=.*/\1/p' "$f" | sort -u)
  bad=""
  for n in $names; do grep -qE "(^|[^A-Z_])$n([^A-Z_]|$)" <<<"$known" || bad+=" $n"; done
  [ -z "$bad" ] && pass "$e: $(wc -w <<<"$names") variables, each read by claimcheck ${command[$u]} or $u" \
    || fail "$e: variables nobody reads:$bad"
  # No secret is filled in: every key/secret/password assignment is empty or commented out.
  if grep -Eq '^(S3_SECRET_KEY|S3_ACCESS_KEY|PGPASSWORD)=.+' "$f" || grep -Eq '^AMQP_URL=amqps?://[^/@]*:[^@]*@' "$f"; then
    fail "$e: a secret is filled in"
  fi
done

# ---- installation ------------------------------------------------------------------------------------------
mode=${CLAIMCHECK_PACKAGE_TEST:-install}
why=""
if [ "${CI:-}" != true ]; then
  if [ "$mode" = extract ]; then why="CLAIMCHECK_PACKAGE_TEST=extract"
  elif [ "$(id -u)" -ne 0 ]; then why="not root"
  elif dpkg-query -W -f='${Status}' claimcheck 2>/dev/null | grep -q 'ok installed'; then why="claimcheck is installed already"
  fi
elif [ "$(id -u)" -ne 0 ]; then
  fail "CI=true: the package must really be installed, but this test is not root"; why="not root"
fi
if [ -z "$why" ]; then
  getent passwd claimcheck >/dev/null || user_created_by_us=1
  out=$(dpkg -i "$deb" 2>&1); rc=$?
  if [ "$rc" -ne 0 ] && [ "${CI:-}" != true ] && grep -q 'lock' <<<"$out"; then
    why="dpkg is locked: $(grep -m1 lock <<<"$out")"; user_created_by_us=0
  elif [ "$rc" -ne 0 ]; then
    echo "$out"; fail "dpkg -i (rc=$rc)"; installed_by_us=1
  else
    installed_by_us=1
    pass "dpkg -i $(basename "$deb")"
  fi
fi
if [ -n "$why" ]; then
  echo "NOTE: not installing ($why): checked the unpacked package only (dpkg -x)"
elif [ "$installed_by_us" = 1 ]; then
  v=$(/usr/bin/claimcheck --version 2>&1)
  [ "$v" = "claimcheck $version" ] && pass "/usr/bin/claimcheck --version: $v" || fail "/usr/bin/claimcheck --version: $v"
  IFS=: read -r _ _ uid _ _ home shell < <(getent passwd claimcheck)
  if [ -n "${uid:-}" ] && [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/claimcheck ] && [[ "$shell" == */nologin || "$shell" == */false ]]; then
    pass "system user claimcheck (uid $uid, home $home, shell $shell)"
  else fail "user claimcheck: uid=${uid:-none} home=${home:-} shell=${shell:-}"; fi
  for e in "${envs[@]}"; do
    m=$(stat -c '%a %U:%G' "/etc/claimcheck/$e" 2>&1)
    [ "$m" = "600 root:root" ] || fail "/etc/claimcheck/$e: $m"
  done
  pass "env files installed 0600 root:root"
  verify_units /lib/systemd/system
  # What an operator does: a settings file of its own and an enabled instance (the link `systemctl enable`
  # makes); purge must remove both.
  cp -p /etc/claimcheck/consumer-example.env /etc/claimcheck/consumer-pkgtest.env
  wants=/etc/systemd/system/multi-user.target.wants
  mkdir -p "$wants"
  ln -sf /lib/systemd/system/claimcheck-consumer@.service "$wants/claimcheck-consumer@pkgtest.service"
  out=$(dpkg -r claimcheck 2>&1) || fail "dpkg -r: $out"
  status=$(dpkg-query -W -f='${Status}' claimcheck 2>&1)
  if [ ! -e /usr/bin/claimcheck ] && [ ! -e /lib/systemd/system/claimcheck-coordinator.service ] &&
     [ -f /etc/claimcheck/coordinator.env ] && [ "$status" = "deinstall ok config-files" ]; then
    pass "dpkg -r: binary and units removed, conffiles kept ($status)"
  else fail "after dpkg -r: status '$status', $(ls /usr/bin/claimcheck /etc/claimcheck 2>&1 | tr '\n' ' ')"; fi
  out=$(dpkg -P claimcheck 2>&1) || fail "dpkg -P: $out"
  [ ! -e /etc/claimcheck ] && [ ! -L "$wants/claimcheck-consumer@pkgtest.service" ] \
    && pass "dpkg -P: /etc/claimcheck (with an operator's copy) and the enablement link removed" \
    || { fail "after dpkg -P: $(ls -d /etc/claimcheck "$wants"/claimcheck-* 2>&1 | tr '\n' ' ')"; rm -f "$wants/claimcheck-consumer@pkgtest.service"; }
  installed_by_us=0
fi

if [ "$fails" -ne 0 ]; then echo "package_test: $fails failure(s)"; exit 1; fi
echo "package_test: OK"
